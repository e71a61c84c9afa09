"""Where a training step's time goes, textfit (Keras on torch) against transformers on the same batches.

    python benchmarks/profile_step.py [--num-texts 2000] [--batch-size 32] [--steps 20] [--precision auto] [--ops 25]

Times, per batch of real tweets: tokenization (per example), padding a batch, forward, forward +
backward, the optimizer update, and a whole `train_on_batch`; the same for transformers'
BertForSequenceClassification with torch's fused AdamW. Python overhead = whole step - the parts.
With --ops N, torch.profiler's N most expensive operators of textfit's train_on_batch follow.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import textfit  # noqa: E402
import keras  # noqa: E402
from textfit.data.batches import TextBatches  # noqa: E402
from textfit.data.datasets import default_model_dir, load_tweet_sentiment  # noqa: E402
from textfit.data.tokenizer import pad_batch  # noqa: E402


def best_mean(function, repeats):
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--ops", type=int, default=0, help="Also list the N most expensive torch operators of a step.")
    args = parser.parse_args()

    tweets = load_tweet_sentiment().sample(args.num_texts, random_state=0)
    texts, labels = tweets["text"].tolist(), tweets["label"].tolist()
    model = textfit.TextClassifier.from_pretrained(default_model_dir(), labels=sorted(set(labels)), max_length=128,
                                                 precision=args.precision)
    model.compile()
    model.optimizer._learning_rate.plan(start_step=0, total_steps=1000)

    started = time.perf_counter()
    encoded = model.tokenizer.encode(texts, max_length=128)
    tokenize_seconds = (time.perf_counter() - started) / len(texts) * args.batch_size
    label_ids = model.label_map.encode(labels)
    batches = TextBatches(encoded, label_ids, batch_size=args.batch_size, shuffle=True, seed=0)
    lengths = batches.padded_lengths()
    index = int(np.argsort(lengths)[len(lengths) // 2])  # a batch of median length
    inputs, y = batches[index]
    print(f"batch: {len(y)} examples x {inputs['token_ids'].shape[1]} tokens (median of the epoch), "
          f"textfit precision {model.precision[0]} ({model.precision[1]})\n")

    pad_seconds = best_mean(lambda: pad_batch(encoded, batches.batch_indices[index], pad_token_id=0), args.steps)
    tensors = {k: torch.as_tensor(v) for k, v in inputs.items()}
    target = torch.as_tensor(y, dtype=torch.long)

    def forward():
        with torch.no_grad():
            model(tensors, training=False)

    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def forward_backward():
        model.zero_grad()
        loss = loss_function(target, model(tensors, training=True))
        loss.backward()

    forward_seconds = best_mean(forward, args.steps)
    forward_backward_seconds = best_mean(forward_backward, args.steps)
    forward_backward()
    variables = model.trainable_variables
    gradients = [v.value.grad for v in variables]
    if not model.optimizer.built:
        model.optimizer.build(variables)
    optimizer_seconds = best_mean(lambda: model.optimizer.apply(gradients, variables), args.steps)
    step_seconds = best_mean(lambda: model.train_on_batch(inputs, y), args.steps)

    # === transformers, same batch ===
    from transformers import AutoModelForSequenceClassification

    hf_model = AutoModelForSequenceClassification.from_pretrained(str(default_model_dir()), num_labels=model.num_classes)
    hf_model.train()
    hf_inputs = {"input_ids": tensors["token_ids"].long(), "token_type_ids": tensors["segment_ids"].long(),
                 "attention_mask": tensors["padding_mask"].long()}
    hf_optimizer = torch.optim.AdamW(hf_model.parameters(), lr=5e-5, weight_decay=0.01, fused=True)

    def hf_forward():
        with torch.no_grad():
            hf_model(**hf_inputs)

    def hf_forward_backward():
        hf_optimizer.zero_grad()
        hf_model(**hf_inputs, labels=target).loss.backward()

    def hf_step():
        hf_forward_backward()
        hf_optimizer.step()

    hf_forward_seconds = best_mean(hf_forward, args.steps)
    hf_forward_backward_seconds = best_mean(hf_forward_backward, args.steps)
    hf_forward_backward()
    hf_optimizer_seconds = best_mean(hf_optimizer.step, args.steps)
    hf_step_seconds = best_mean(hf_step, args.steps)

    rows = [
        ("tokenization (per batch, done once per data set)", tokenize_seconds, None),
        ("data pipeline: pad one batch", pad_seconds, None),
        ("forward (inference)", forward_seconds, hf_forward_seconds),
        ("forward + backward", forward_backward_seconds, hf_forward_backward_seconds),
        ("backward alone (difference)", forward_backward_seconds - forward_seconds, hf_forward_backward_seconds - hf_forward_seconds),
        ("optimizer update", optimizer_seconds, hf_optimizer_seconds),
        ("whole training step", step_seconds, hf_step_seconds),
        ("Python/framework overhead (step - parts)", step_seconds - forward_backward_seconds - optimizer_seconds,
         hf_step_seconds - hf_forward_backward_seconds - hf_optimizer_seconds),
    ]
    print(f"{'part':<50} {'textfit (ms)':>13} {'transformers (ms)':>18}")
    for name, ours, theirs in rows:
        print(f"{name:<50} {1000 * ours:>13.1f} {'' if theirs is None else f'{1000 * theirs:.1f}':>18}")
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for _ in range(5):
                model.train_on_batch(inputs, y)
        print(f"\ntextfit, 5 steps: the {args.ops} operators with the most self time")
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))


if __name__ == "__main__":
    main()
