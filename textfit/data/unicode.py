"""Text that is not valid Unicode: find it, describe it, or replace it.

A Python string can hold code points UTF-8 cannot encode: lone surrogates (U+D800–U+DFFF),
which arrive from a JSON escape such as ``"\\ud800"`` or from bytes that were not UTF-8 decoded
with ``errors="surrogateescape"`` (command-line arguments). The tokenizer cannot take them, so
every door text comes in by checks with these functions and names the text.
"""

import re

INVALID_TEXT_CHOICES = ("error", "replace")
REPLACEMENT_CHARACTER = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def invalid_code_point(text: str) -> str | None:
    """Where ``text`` stops being valid Unicode ("U+D800 at character 7"), or None when it is valid."""
    match = _SURROGATE.search(text)
    if match is None:
        return None
    return f"U+{ord(match.group()):04X} at character {match.start()}"


def replace_invalid(text: str) -> str:
    """``text`` with every code point UTF-8 cannot encode replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT_CHARACTER, text)


def invalid_text_message(what: str, where: str) -> str:
    """The error for one invalid text: ``what`` names it ("text 3"), ``where`` is ``invalid_code_point``'s answer."""
    return (
        f"{what} is not valid Unicode: it holds a lone surrogate ({where}), from a broken \\ud800-style escape or bytes "
        "that were not UTF-8. Fix the text, or replace such code points with U+FFFD (--on-invalid-text replace; in "
        "Python, textfit.data.unicode.replace_invalid(text))."
    )
