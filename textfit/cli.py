"""The ``textfit`` command: argparse subcommands that build configs and call the library.

Each config field becomes a flag (``learning_rate`` -> ``--learning-rate``) with the
field's help text, so the docs and the flags stay in sync.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import types

from textfit import __version__
from textfit.backend import backend_name
from textfit.data.examples import DataConfig
from textfit.models.classifier import ModelConfig
from textfit.models.precision import PRECISIONS
from textfit.serving.serve import ServeConfig
from textfit.training.train import TrainConfig

logger = logging.getLogger("textfit")


def _flag_type(config_field: dataclasses.Field):
    annotation = config_field.type
    if isinstance(annotation, types.UnionType):
        annotation = next(arg for arg in annotation.__args__ if arg is not type(None))
    return annotation


def _add_config_flags(parser, config_class, skip=()):
    """One flag per dataclass field; unset flags stay absent so the dataclass default applies."""
    group = parser.add_argument_group(config_class.__name__)
    for config_field in dataclasses.fields(config_class):
        if config_field.name in skip:
            continue
        default = config_field.default
        shown = "chosen from the data size" if config_field.metadata.get("auto") else default
        # argparse formats help with %: a literal one ("10%") must be doubled or --help crashes.
        help_text = f"{config_field.metadata.get('help', '')} (default: {shown})".replace("%", "%%")
        flag = "--" + config_field.name.replace("_", "-")
        if _flag_type(config_field) is bool:  # --keep-best / --no-keep-best
            group.add_argument(flag, dest=config_field.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
            continue
        group.add_argument(
            flag,
            dest=config_field.name,
            type=_flag_type(config_field),
            choices=config_field.metadata.get("choices"),
            default=argparse.SUPPRESS,
            help=help_text,
        )


def _config(config_class, args, **overrides):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class) if hasattr(args, f.name)}
    return config_class(**{**values, **overrides})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textfit", description="Fine-tune pretrained transformer encoders for text classification (Keras 3)."
    )
    parser.add_argument("--version", action="version", version=f"textfit {__version__}")
    parser.add_argument("--debug", action="store_true", help="Show full tracebacks on errors.")
    subcommands = parser.add_subparsers(dest="command", required=True)

    train = subcommands.add_parser("train", help="Fine-tune a checkpoint on a labelled file and save the classifier.")
    train.add_argument("--model", help="Checkpoint folder (default: the shipped all-MiniLM-L6-v2).")
    train.add_argument("--train", required=True, help="Training data: .csv, .tsv, .jsonl or .parquet.")
    train.add_argument("--validation", help="Validation data file (default: a stratified --validation-split of --train).")
    train.add_argument("--output", required=True, help="Folder to write the fine-tuned model to.")
    train.add_argument("--checkpoint-dir", help="Folder for training checkpoints (default: OUTPUT/checkpoints).")
    resume = train.add_mutually_exclusive_group()
    resume.add_argument("--resume", dest="resume", action="store_const", const=True, default="auto",
                        help="Continue from the newest checkpoint; fail if there is none. (Default: continue if one exists.)")
    resume.add_argument("--no-resume", dest="resume", action="store_const", const=False,
                        help="Start over, deleting the checkpoints of an earlier run.")
    train.add_argument("--workers", type=int, default=1,
                       help="Train data-parallel in this many local processes (torchrun --standalone; default: 1). "
                            "Across machines, launch `torchrun ... -m textfit train ...` yourself.")
    _add_config_flags(train, DataConfig)
    _add_config_flags(train, ModelConfig)
    _add_config_flags(train, TrainConfig)

    evaluate = subcommands.add_parser("evaluate", help="Score a saved model on a labelled file; prints metrics JSON.")
    evaluate.add_argument("--model", required=True, help="Folder of a fine-tuned model.")
    evaluate.add_argument("--data", required=True, help="Labelled data: .csv, .tsv, .jsonl or .parquet.")
    evaluate.add_argument("--output", help="Also write the metrics to this JSON file.")
    evaluate.add_argument("--batch-size", type=int, default=64, help="Examples per batch (default: 64).")
    _add_runtime_flag(evaluate)
    _add_config_flags(evaluate, DataConfig)

    predict = subcommands.add_parser("predict", help="Predict labels and probabilities for texts.")
    predict.add_argument("--model", required=True, help="Folder of a fine-tuned model.")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="A text to classify (repeat for several); prints JSON lines.")
    source.add_argument("--input", help="File of texts (.csv, .tsv, .jsonl, .parquet).")
    predict.add_argument("--text-pair", action="append", help="Second text for each --text (sentence-pair models).")
    predict.add_argument("--output", help="With --input: write predictions here (.csv or .jsonl).")
    predict.add_argument("--batch-size", type=int, default=64, help="Examples per batch (default: 64).")
    _add_runtime_flag(predict)
    _add_config_flags(predict, DataConfig, skip=("label_column",))

    export = subcommands.add_parser("export", help="Export a saved model to ONNX (float32, and int8 weights) for onnxruntime.")
    export.add_argument("--model", required=True, help="Folder of a fine-tuned model; model.onnx is written into it.")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="Export format (default: onnx).")
    export.add_argument("--quantize", choices=("int8",), help="Also write model.int8.onnx with int8 weights.")
    export.add_argument("--sample", help="Data file whose texts check the export (default: a few built-in sentences).")
    _add_config_flags(export, DataConfig, skip=("label_column", "task", "label_separator"))

    report = subcommands.add_parser("report", help="Rebuild report.html and the plots of a trained model folder.")
    report.add_argument("model_dir", help="Folder written by `textfit train`.")

    serve = subcommands.add_parser("serve", help="Serve a saved model over HTTP (POST /v1/predict).")
    serve.add_argument("--model", required=True, help="Folder of a fine-tuned model.")
    _add_runtime_flag(serve)
    _add_config_flags(serve, ServeConfig)

    check = subcommands.add_parser("check", help="Check data (and its fit with a model) before training; exit 1 on errors.")
    check.add_argument("--train", required=True, help="Training data: .csv, .tsv, .jsonl or .parquet.")
    check.add_argument("--validation", help="Validation data file (default: a stratified --validation-split of --train).")
    check.add_argument("--model", help="Checkpoint folder (default: the shipped all-MiniLM-L6-v2).")
    check.add_argument("--json", dest="json_path", help="Also write the report as JSON to this file.")
    _add_config_flags(check, DataConfig)
    _add_config_flags(check, ModelConfig, skip=("dropout",))
    check.add_argument("--validation-split", type=float, default=0.1, help="Share held out when no --validation (default: 0.1).")
    check.add_argument("--seed", type=int, default=0, help="Seed of the split (default: 0).")
    check.add_argument("--baseline", choices=("on", "off"), default="on",
                       help="Fit a TF-IDF + logistic-regression baseline on the split (default: on).")

    demo = subcommands.add_parser("demo", help="Fine-tune the shipped MiniLM on real tweet sentiment, offline (~3-5 min).")
    demo.add_argument("--output", default="textfit-demo", help="Folder to write the model to (default: textfit-demo).")
    demo.add_argument("--model", help="Checkpoint folder (default: the shipped all-MiniLM-L6-v2).")
    demo.add_argument("--num-train", type=int, default=6000, help="Training tweets (default: 6000).")
    demo.add_argument("--num-validation", type=int, default=1000, help="Validation tweets (default: 1000).")
    demo.add_argument("--epochs", type=int, default=1, help="Passes over the training tweets (default: 1).")
    return parser


def _add_runtime_flag(parser) -> None:
    parser.add_argument("--runtime", choices=("keras", "onnx", "onnx-int8"), default="keras",
                        help="keras (default), or onnxruntime on model.onnx / model.int8.onnx written by `textfit export`.")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="keras runtime: auto (bfloat16 where the CPU runs it fast, else float32), float32 or bfloat16.")


def _load_model(args, *, serving: bool = False):
    """The saved model, on the runtime --runtime names."""
    if getattr(args, "runtime", "keras") == "keras":
        from textfit.models.classifier import TextClassifier

        return TextClassifier.from_pretrained(args.model, precision=getattr(args, "precision", "auto"))
    if getattr(args, "precision", "auto") != "auto":
        raise ValueError(f"--precision applies to the keras runtime; --runtime {args.runtime} runs the exported graph as it is. Drop --precision.")
    from textfit.serving.onnx import RUNTIMES, OnnxClassifier

    return OnnxClassifier.from_dir(args.model, file=RUNTIMES[args.runtime], spin_wait=not serving)


def _run_export(args) -> int:
    from textfit.data.examples import read_examples
    from textfit.serving.onnx import export_onnx

    sample = None
    if args.sample:
        sample = read_examples(args.sample, _config(DataConfig, args), require_labels=False).inputs
    print(json.dumps(export_onnx(args.model, quantize=args.quantize, sample_texts=sample), indent=2))
    return 0


def _data_config_for(model, args) -> DataConfig:
    """The data flags, with the task read from the model unless --task says otherwise."""
    config = _config(DataConfig, args)
    return dataclasses.replace(config, task=model.task) if config.task == "auto" else config


def _progress_verbosity():
    # A live bar on a terminal; one line per epoch in logs and CI.
    return 1 if sys.stdout.isatty() else 2


def _run_train(args) -> int:
    from textfit.data.datasets import default_model_dir
    from textfit.evaluation.evaluate import format_metrics
    from textfit.training.train import train

    if args.validation and hasattr(args, "validation_split"):
        raise ValueError("Pass either --validation FILE or --validation-split, not both.")
    result = train(
        args.model or default_model_dir(),
        args.train,
        args.output,
        validation_source=args.validation,
        data_config=_config(DataConfig, args),
        model_config=_config(ModelConfig, args),
        train_config=_config(TrainConfig, args),
        verbose=_progress_verbosity(),
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # data-parallel: rank 0 prints the summary
    print(f"Trained in {result.train_seconds:.1f} s ({result.train_examples_per_second:.1f} examples/s).")
    if result.best is not None:
        best = result.best
        print(f"Best validation {best['monitor']} {best['value']:.4f} at step {best['step']} (epoch {best['epoch']})"
              + (", training stopped early" if best["stopped_early"] else "")
              + ("; these are the weights saved." if best["restored"] else "; the last step's weights are saved."))
    if result.metrics is not None:
        print(format_metrics(result.metrics))
        baseline = result.metrics.get("baseline")
        if baseline:
            print(f"TF-IDF baseline ({baseline['description']}, {baseline['seconds']:.1f} s): " + ", ".join(
                f"{name} {baseline[key]:.4f}" for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"),
                                                                ("mae", "MAE"), ("pearson", "Pearson")) if baseline.get(key) is not None)
                  + (" — it beats the fine-tuned model (see the warning above)." if baseline["verdict"] == "baseline_wins" else "."))
    print(f"Saved to {result.output_dir}")
    return 0


def _run_evaluate(args) -> int:
    from textfit.data.examples import read_examples
    from textfit.evaluation.evaluate import evaluate, write_metrics

    model = _load_model(args)
    examples = read_examples(args.data, _data_config_for(model, args))
    metrics = evaluate(model, examples.inputs, examples.labels, batch_size=args.batch_size)
    if args.output:
        write_metrics(metrics, args.output)
    print(json.dumps(metrics, indent=2))
    return 0


def _run_predict(args) -> int:
    import pandas as pd

    from textfit.data.examples import read_examples
    from textfit.serving.predict import predict_file, prediction_records

    if args.input and not args.output:
        raise ValueError("--input needs --output FILE (.csv or .jsonl) for the predictions.")
    if args.text_pair and (args.input or len(args.text_pair) != len(args.text)):
        raise ValueError("--text-pair goes with --text, one per --text.")
    model = _load_model(args)
    if args.input:
        count = predict_file(model, args.input, args.output, _data_config_for(model, args), batch_size=args.batch_size)
        logger.info("Wrote %d predictions to %s", count, args.output)
        return 0
    # The texts go through the same checks as a file's (invalid Unicode, empty texts), row n being the n-th --text.
    table = pd.DataFrame({"text": args.text, **({"text_pair": args.text_pair} if args.text_pair else {})}, dtype=object)
    data_config = _config(DataConfig, args, text_column="text", text_pair_column="text_pair" if args.text_pair else None)
    examples = read_examples(table, data_config, require_labels=False)
    for record in prediction_records(model, examples, args.batch_size):
        print(json.dumps(record, ensure_ascii=False))
    return 0


def _run_report(args) -> int:
    from textfit.evaluation.report import REPORT_FILE, rebuild_report

    written = rebuild_report(args.model_dir)
    logger.info("Wrote %s", ", ".join(written))
    print(os.path.abspath(os.path.join(args.model_dir, REPORT_FILE)))
    return 0


def _run_serve(args) -> int:
    from textfit.serving.serve import serve

    config = _config(ServeConfig, args)
    serve(_load_model(args, serving=True), config)
    return 0


def _run_check(args) -> int:
    from textfit.data.datasets import default_model_dir
    from textfit.evaluation.doctor import check, write_report

    model_config = _config(ModelConfig, args)
    report = check(
        args.train,
        args.validation,
        model_dir=args.model or default_model_dir(),
        data_config=_config(DataConfig, args),
        max_length=model_config.max_length,
        validation_split=0.0 if args.validation else args.validation_split,
        seed=args.seed,
        num_labels=model_config.num_labels,
        baseline=args.baseline == "on",
    )
    print(report.format())
    if args.json_path:
        write_report(report, args.json_path)
    return 0 if report.ok else 1


def _run_demo(args) -> int:
    import dataclasses as _dataclasses

    from textfit.demo import DEMO_TRAIN_CONFIG, run_demo
    from textfit.evaluation.evaluate import format_metrics

    result, examples = run_demo(
        args.output,
        model_dir=args.model,
        num_train=args.num_train,
        num_validation=args.num_validation,
        train_config=_dataclasses.replace(DEMO_TRAIN_CONFIG, epochs=args.epochs),
        verbose=_progress_verbosity(),
    )
    print(f"\nTrained on {args.num_train} tweets in {result.train_seconds:.1f} s "
          f"({result.train_examples_per_second:.1f} examples/s).")
    print("Validation metrics:")
    print(format_metrics(result.metrics))
    print("\nExample predictions:")
    for example in examples:
        truth = f"  (true: {example['true_label']})" if example["true_label"] else ""
        print(f"  {example['label']:>8} {example['probability']:.2f}  {example['text'][:90]}{truth}")
    print(f"\nSaved to {result.output_dir}; try: textfit predict --model {result.output_dir} --text \"I love it\"")
    return 0


COMMANDS = {
    "train": _run_train,
    "evaluate": _run_evaluate,
    "predict": _run_predict,
    "check": _run_check,
    "export": _run_export,
    "serve": _run_serve,
    "report": _run_report,
    "demo": _run_demo,
}


def main(argv=None) -> int:
    """Run the ``textfit`` command line; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if getattr(args, "workers", 1) > 1 and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _launch_workers(args.workers, argv)
    prefix = _process_prefix()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
    saved_state = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.ERROR)
    logger.propagate = False
    try:
        logger.info("Keras backend: %s", backend_name())
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as error:
        if args.debug:
            raise
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # read-only or full disk, permissions: name the path and the reason
        if args.debug:
            raise
        print(f"{prefix}: error: could not read or write {error.filename or 'a file'}: {error.strerror or error}. "
              "Check the path, its permissions and the free disk space; an earlier model there is left as it was.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("textfit: interrupted", file=sys.stderr)
        return 130
    finally:
        # Leave logging as it was, for callers that run main() in-process (tests, notebooks).
        logger.handlers[:] = saved_state[0]
        logger.setLevel(saved_state[1])
        logger.propagate = saved_state[2]


def _process_prefix() -> str:
    """"textfit", or "textfit[rank 1/4]" in a data-parallel run, so every message says which process wrote it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f"textfit[rank {os.environ.get('RANK', '0')}/{world}]" if world > 1 else "textfit"


def _launch_workers(workers: int, argv: list[str]) -> int:
    """Re-run this command in ``workers`` local processes under torchrun (standalone rendezvous on a free port)."""
    try:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import main as torchrun
    except ImportError:
        print("textfit: error: --workers needs torch (pip install 'textfit[torch]').", file=sys.stderr)
        return 1
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--workers":
            skip = True
        elif not item.startswith("--workers="):
            rest.append(item)
    try:
        torchrun(["--standalone", f"--nproc-per-node={workers}", "-m", "textfit", *rest])
    except ChildFailedError as error:
        ranks = sorted(error.failures)
        first = error.failures[ranks[0]]
        print(f"textfit: error: worker rank(s) {ranks} of {workers} failed (rank {ranks[0]}: exit code {first.exitcode}); "
              "the messages above say why. Nothing was saved by an unfinished run; rerun the same command to resume from "
              "the last checkpoint.", file=sys.stderr)
        return 1
    return 0
