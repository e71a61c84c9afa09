"""textfit: fine-tune pretrained transformer encoders for text classification, on Keras 3."""

from textfit.backend import backend_name  # first: picks the Keras backend before keras loads
from textfit.data.examples import DataConfig, Examples, read_examples, split_examples
from textfit.data.labels import LabelMap
from textfit.data.datasets import default_model_dir
from textfit.evaluation.doctor import DataReport, check
from textfit.evaluation.evaluate import classification_metrics, evaluate, write_metrics
from textfit.training.guards import LogitsGuard, check_loss_matches_outputs
from textfit.models.classifier import LoadReport, ModelConfig, TextClassifier
from textfit.training.schedule import WarmupThenDecay, default_optimizer
from textfit.data.tokenizer import Tokenizer
from textfit.training.train import TrainConfig, TrainResult, train
from textfit.training.watchdog import NotLearningWatchdog

__version__ = "0.1.0"

__all__ = [
    "DataConfig",
    "DataReport",
    "Examples",
    "LabelMap",
    "LoadReport",
    "LogitsGuard",
    "ModelConfig",
    "NotLearningWatchdog",
    "TextClassifier",
    "Tokenizer",
    "TrainConfig",
    "TrainResult",
    "WarmupThenDecay",
    "backend_name",
    "check",
    "check_loss_matches_outputs",
    "classification_metrics",
    "default_model_dir",
    "default_optimizer",
    "evaluate",
    "read_examples",
    "split_examples",
    "train",
    "write_metrics",
]
