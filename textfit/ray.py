"""Ray: the same training on a Ray cluster (Ray Train), and batch prediction with Ray Data.

Needs the ``ray`` extra: ``pip install 'textfit[ray]'``. Ray is a launcher over the mechanism of
``training/distributed.py``: Ray Train's ``TorchTrainer`` starts the workers and creates the
torch.distributed process group, and every worker runs ``textfit.train`` unchanged (rank 0 writes
the model folder, so ``output_dir`` must be a path every worker sees: a shared file system).
``predict_dataset`` runs one model per Ray Data actor, loaded once, over a dataset too large for one
machine; rows come back in input order with the fields ``textfit predict`` writes.
"""

from pathlib import Path

_INSTALL_HINT = "Install the Ray extra: pip install 'textfit[ray]'."


def _ray_module(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"{name} is not installed. {_INSTALL_HINT}") from None


def train_on_ray(model_dir, train_source, output_dir, *, num_workers: int = 2, use_gpu: bool = False, **train_arguments):
    """Run ``textfit.train(model_dir, train_source, output_dir, **train_arguments)`` data-parallel on ``num_workers`` Ray workers.

    Paths are made absolute; they must be readable (data, checkpoint) and writable (output) from
    every worker. Returns Ray's ``Result``; the model is in ``output_dir``.

    Example:
        >>> train_on_ray("models/minilm", "/shared/train.csv", "/shared/model", num_workers=4,
        ...              train_config=textfit.TrainConfig(epochs=2, batch_size=64))
    """
    train_module = _ray_module("ray.train")
    torch_module = _ray_module("ray.train.torch")
    arguments = {
        "model_dir": str(Path(model_dir).resolve()),
        "train_source": str(Path(train_source).resolve()) if isinstance(train_source, (str, Path)) else train_source,
        "output_dir": str(Path(output_dir).resolve()),
        **train_arguments,
    }
    if isinstance(arguments.get("validation_source"), (str, Path)):
        arguments["validation_source"] = str(Path(arguments["validation_source"]).resolve())
    trainer = torch_module.TorchTrainer(
        _train_loop,
        train_loop_config=arguments,
        scaling_config=train_module.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
    )
    return trainer.fit()


def _train_loop(config: dict) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    from textfit.training.train import train

    config = dict(config)
    train(config.pop("model_dir"), config.pop("train_source"), config.pop("output_dir"), verbose=0, **config)


class _Predictor:
    """One model per Ray Data actor, loaded once; predicts a batch of rows."""

    def __init__(self, model_dir: str, text_column: str, text_pair_column: str | None, batch_size: int):
        import os

        os.environ.setdefault("KERAS_BACKEND", "torch")
        from textfit.models.classifier import TextClassifier

        self.model = TextClassifier.from_pretrained(model_dir)
        self.text_column, self.text_pair_column, self.batch_size = text_column, text_pair_column, batch_size

    def __call__(self, batch: dict) -> dict:
        import json

        import numpy as np

        from textfit.serving.predict import prediction_fields

        texts = [str(text) for text in batch[self.text_column]]
        inputs = texts if self.text_pair_column is None else list(zip(texts, (str(t) for t in batch[self.text_pair_column])))
        fields = prediction_fields(self.model, self.model.predict_logits(inputs, batch_size=self.batch_size))
        out = dict(batch)
        for key in fields[0] if fields else ():
            values = [row[key] for row in fields]
            # Mappings and lists go as JSON strings: every Ray Data format (and Parquet/CSV writers) takes them.
            out[key] = np.array([json.dumps(v) if isinstance(v, (dict, list)) else v for v in values], dtype=object)
        return out


def predict_dataset(dataset, model_dir, *, text_column: str = "text", text_pair_column: str | None = None,
                    batch_size: int = 64, concurrency: int = 2):
    """Add textfit's predictions to a Ray ``Dataset``: ``label`` and ``probabilities`` (JSON), or ``labels``/``value``.

    Each of ``concurrency`` actors loads the model once; the output keeps the input's row order.

    Example:
        >>> import ray
        >>> predictions = predict_dataset(ray.data.read_csv("s3://bucket/new/*.csv"), "/shared/sentiment-model")
        >>> predictions.write_parquet("s3://bucket/predictions/")
    """
    data_module = _ray_module("ray.data")
    data_module.DataContext.get_current().execution_options.preserve_order = True
    return dataset.map_batches(
        _Predictor,
        fn_constructor_args=(str(Path(model_dir).resolve()), text_column, text_pair_column, batch_size),
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
    )
