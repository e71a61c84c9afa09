"""``python -m textfit`` runs the command-line interface."""

from textfit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
