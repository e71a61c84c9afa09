"""Turn raw text into token ids with the checkpoint's own tokenizer (the `tokenizers` library).

Texts are tokenized once, unpadded; batches are padded later to their own longest
example (see ``batches.py``), never to a fixed 512.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as _RustTokenizer

from textfit.data.unicode import invalid_code_point, invalid_text_message
from textfit.hf import tokenizer_files
from textfit.hf.folder import read_config


@dataclass(frozen=True)
class EncodedTexts:
    """Unpadded token ids and segment ids, one int32 array per example."""

    token_ids: list[np.ndarray]
    segment_ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.token_ids), dtype=np.int64, count=len(self.token_ids))

    def subset(self, indices) -> "EncodedTexts":
        return EncodedTexts([self.token_ids[i] for i in indices], [self.segment_ids[i] for i in indices])


class Tokenizer:
    """A checkpoint's tokenizer (any file kind ``hf/tokenizer_files.py`` reads), padding per batch.

    Use it to encode single texts or text pairs, truncated to ``max_length`` tokens
    (special tokens included). Padding happens per batch, in ``pad_batch``.

    Args:
        rust_tokenizer: a ``tokenizers.Tokenizer`` with its special-token template.
        pad_token_id: the id used to pad batches.
        files: the checkpoint's tokenizer files (name -> bytes), written back on save.

    Example:
        >>> tokenizer = Tokenizer.from_dir("models/minilm")
        >>> encoded = tokenizer.encode(["a great film"], max_length=128)
        >>> batch = pad_batch(encoded, [0], pad_token_id=tokenizer.pad_token_id)
        >>> batch["token_ids"].shape
        (1, 5)
    """

    def __init__(self, rust_tokenizer: _RustTokenizer, pad_token_id: int, files: dict[str, bytes] | None = None):
        self._tokenizer = rust_tokenizer
        # The checkpoint's tokenizer files, kept verbatim to write them back on save.
        self.files = dict(files or {})
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.pad_token_id = pad_token_id

    @classmethod
    def from_dir(cls, checkpoint_dir) -> "Tokenizer":
        """Read the tokenizer saved in a checkpoint folder (its config.json says which family)."""
        from textfit.models import get_family  # the families import Keras; the tokenizer alone does not need it

        checkpoint_dir = Path(checkpoint_dir)
        # A folder holding only tokenizer files reads as BERT's defaults would have it.
        hf_config = read_config(checkpoint_dir) if (checkpoint_dir / "config.json").is_file() else {"model_type": "bert"}
        family = get_family(hf_config.get("model_type"))
        rust_tokenizer = tokenizer_files.read_rust_tokenizer(
            checkpoint_dir, template=family.special_tokens, model_type=hf_config.get("model_type")
        )
        tokenizer_config = tokenizer_files.read_tokenizer_config(checkpoint_dir)
        pad_token_id = tokenizer_files.pad_token_id(rust_tokenizer, tokenizer_config, hf_config, family.default_pad_token_id)
        files = {
            name: (checkpoint_dir / name).read_bytes()
            for name in tokenizer_files.TOKENIZER_FILES if (checkpoint_dir / name).is_file()
        }
        return cls(rust_tokenizer, pad_token_id, files)

    def save(self, target_dir, *, max_length: int) -> None:
        """Write the tokenizer files to ``target_dir``, with ``model_max_length`` set to ``max_length``.

        transformers truncates at ``model_max_length``, so it then cuts texts where textfit does.
        """
        target_dir = Path(target_dir)
        for name, content in self.files.items():
            if name != "tokenizer_config.json":
                (target_dir / name).write_bytes(content)
        if tokenizer_files.TOKENIZER_JSON not in self.files:
            # Built from vocab/merges/SentencePiece files: save it whole, so transformers loads
            # exactly the tokenizer the model was trained with.
            self._tokenizer.no_truncation()
            self._tokenizer.save(str(target_dir / tokenizer_files.TOKENIZER_JSON))
        tokenizer_config = json.loads(self.files.get("tokenizer_config.json", b"{}"))
        tokenizer_config["model_max_length"] = max_length
        (target_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")

    @property
    def vocabulary_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def tokenize(self, text: str) -> list[str]:
        """The word pieces of one text, special tokens included (for inspection)."""
        return self._tokenizer.encode(text).tokens

    def encode(self, texts, text_pairs=None, *, max_length: int) -> EncodedTexts:
        """Tokenize texts (and optional second texts) into unpadded id arrays."""
        if max_length < 2 + (1 if text_pairs is not None else 0):
            raise ValueError(f"max_length must leave room for the special tokens. Received: max_length={max_length}")
        self._tokenizer.enable_truncation(max_length, strategy="longest_first")
        texts = list(texts)
        try:
            if text_pairs is None:
                encodings = self._tokenizer.encode_batch(texts)
            else:
                encodings = self._tokenizer.encode_batch(list(zip(texts, text_pairs)))
        except (TypeError, ValueError) as error:
            # The tokenizer's own message ("TextEncodeInput must be ...") does not say which text or why.
            _raise_for_invalid_texts(texts, text_pairs)
            raise ValueError(f"The tokenizer could not encode the texts: {error}") from None
        token_ids = [np.asarray(encoding.ids, dtype=np.int32) for encoding in encodings]
        segment_ids = [np.asarray(encoding.type_ids, dtype=np.int32) for encoding in encodings]
        return EncodedTexts(token_ids, segment_ids)


def pad_batch(encoded: EncodedTexts, indices, *, pad_token_id: int, pad_to_multiple_of: int = 1) -> dict:
    """Stack the examples at ``indices`` into padded (batch, sequence_length) int32 arrays."""
    length = max(len(encoded.token_ids[i]) for i in indices)
    length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    token_ids = np.full((len(indices), length), pad_token_id, dtype=np.int32)
    segment_ids = np.zeros((len(indices), length), dtype=np.int32)
    padding_mask = np.zeros((len(indices), length), dtype=np.int32)
    for row, index in enumerate(indices):
        ids = encoded.token_ids[index]
        token_ids[row, : len(ids)] = ids
        segment_ids[row, : len(ids)] = encoded.segment_ids[index]
        padding_mask[row, : len(ids)] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def _raise_for_invalid_texts(texts, text_pairs) -> None:
    """Raise naming the first text (by index) that is not a string or not valid Unicode."""
    for name, values in (("text", texts), ("text pair", text_pairs or [])):
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise TypeError(f"{name} {index} is {value!r} ({type(value).__name__}), not a string. Remove or fill it in.")
            where = invalid_code_point(value)
            if where is not None:
                raise ValueError(invalid_text_message(f"{name.capitalize()} {index}", where))
