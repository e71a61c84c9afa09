"""Does any family fall off the fast path? Training speed per family at one size, against Trainer.

No Hub download is possible here, so each family gets a randomly initialised checkpoint of the
same size as all-MiniLM-L6-v2 (hidden 384, 6 layers, 12 heads, feed-forward 1536 — ModernBERT's
GeGLU 1024, the same FLOPs), built with transformers and given MiniLM's tokenizer. Each family then
runs ``benchmarks/train_speed.py --model DIR`` for textfit (torch) and Hugging Face Trainer
(group_by_length, transformers' default attention) on the same tweets. Accuracy means nothing with
random weights; speed does: the ratio to Trainer per family, and each family's textfit speed
relative to BERT's.

    python benchmarks/family_speed.py                    # 1,000 tweets, batch 32, max length 128
    python benchmarks/family_speed.py --families bert deberta-v2 --num-train 2000
"""

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SIZE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}
FAMILY_CONFIGS = {
    "bert": dict(SIZE, max_position_embeddings=512, type_vocab_size=2),
    "distilbert": {"dim": 384, "n_layers": 6, "n_heads": 12, "hidden_dim": 1536, "max_position_embeddings": 512},
    "electra": dict(SIZE, embedding_size=128, max_position_embeddings=512, type_vocab_size=2),
    "roberta": dict(SIZE, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5),
    "deberta-v2": dict(SIZE, max_position_embeddings=512, type_vocab_size=0, relative_attention=True, position_buckets=256,
                       max_relative_positions=-1, pos_att_type=["p2c", "c2p"], position_biased_input=False,
                       norm_rel_ebd="layer_norm", share_att_key=True, layer_norm_eps=1e-7),
    "modernbert": dict(SIZE, intermediate_size=1024, max_position_embeddings=8192, local_attention=128,
                       global_attn_every_n_layers=3, pad_token_id=0, cls_token_id=101, sep_token_id=102, bos_token_id=101,
                       eos_token_id=102, classifier_pooling="mean"),
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_random_checkpoint(model_type: str, folder: Path, tokenizer_dir: Path) -> Path:
    import torch
    import transformers

    vocab_size = json.loads((tokenizer_dir / "config.json").read_text())["vocab_size"]
    config = transformers.AutoConfig.for_model(model_type, vocab_size=vocab_size, **FAMILY_CONFIGS[model_type])
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, folder / name)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="*", default=list(FAMILY_CONFIGS), choices=list(FAMILY_CONFIGS))
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    import textfit

    print(f"CPU: {cpu_name()}; data: {args.num_train} tweets, batch {args.batch_size}, max_length {args.max_length}, 1 epoch")
    speed = Path(__file__).with_name("train_speed.py")
    rates = {}
    with tempfile.TemporaryDirectory() as root:
        for model_type in args.families:
            folder = write_random_checkpoint(model_type, Path(root) / model_type, textfit.default_model_dir())
            completed = subprocess.run(
                [sys.executable, str(speed), "--model", str(folder), "--num-train", str(args.num_train), "--num-eval", "200",
                 "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
                 "--only", "textfit-torch", "trainer-group-by-length"],
                capture_output=True, text=True,
            )
            results = {}
            for line in completed.stdout.splitlines():
                name, _, payload = line.partition(": ")
                if name in ("textfit-torch", "trainer-group-by-length") and payload.startswith("{"):
                    results[name] = json.loads(payload)
            rates[model_type] = {
                name: args.num_train / result["train_seconds"] if "train_seconds" in result else None
                for name, result in results.items()
            }
            errors = {name: result["error"][-400:] for name, result in results.items() if "error" in result}
            print(f"{model_type}: {json.dumps(rates[model_type])}" + (f" errors: {errors}" if errors else ""), flush=True)
    bert = (rates.get("bert") or {}).get("textfit-torch")
    print(f"\n{'family':<12} {'textfit ex/s':>12} {'Trainer ex/s':>12} {'vs Trainer':>10} {'vs BERT':>8}")
    for model_type, rate in rates.items():
        ours, theirs = rate.get("textfit-torch"), rate.get("trainer-group-by-length")
        ratio = f"{ours / theirs:.2f}x" if ours and theirs else "n/a"
        relative = f"{ours / bert:.2f}" if ours and bert else "n/a"
        print(f"{model_type:<12} {ours or float('nan'):>12.1f} {theirs or float('nan'):>12.1f} {ratio:>10} {relative:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
