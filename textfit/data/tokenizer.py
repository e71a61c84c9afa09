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


# How a text longer than max_length is cut: its start, its end, both (a quarter from the start, the rest
# from the end: Sun et al. 2019, "How to Fine-Tune BERT for Text Classification"), or every window of it.
TRUNCATIONS = ("head", "tail", "head+tail", "chunks")
HEAD_SHARE = 0.25


def char_bound(max_length: int) -> int:
    """Characters of a text the tokenizer is given per end kept: ample for ``max_length`` tokens.

    A 300 kB e-mail then costs no more to tokenize than a 10 kB one. 32 characters per token is
    several times what English takes (about 4); a word longer than WordPiece's 100-character limit
    is one [UNK] token however long it is.
    """
    return max(4096, 32 * max_length)


@dataclass(frozen=True)
class EncodedTexts:
    """Unpadded token ids and segment ids, one int32 array per row.

    A row is an example, or with ``chunks`` truncation one window of an example: then
    ``example_index[row]`` is the example it belongs to.
    """

    token_ids: list[np.ndarray]
    segment_ids: list[np.ndarray]
    example_index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_examples(self) -> int:
        return len(self.token_ids) if self.example_index is None else int(self.example_index.max()) + 1

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.token_ids), dtype=np.int64, count=len(self.token_ids))

    def subset(self, indices) -> "EncodedTexts":
        """The rows at ``indices`` (windows keep their example numbers)."""
        example_index = None if self.example_index is None else self.example_index[np.asarray(indices, dtype=np.int64)]
        return EncodedTexts([self.token_ids[i] for i in indices], [self.segment_ids[i] for i in indices], example_index)


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

    def encode(self, texts, text_pairs=None, *, max_length: int, truncation: str = "head", chunk_overlap: int | None = None,
               max_chunks: int = 8) -> EncodedTexts:
        """Tokenize texts (and optional second texts) into unpadded id arrays of at most ``max_length`` tokens.

        ``truncation`` says what a longer text keeps: "head" (its start), "tail" (its end),
        "head+tail" (a quarter of the budget from the start, the rest from the end) or "chunks"
        (every window of ``max_length`` tokens, overlapping by ``chunk_overlap`` (default a
        quarter), up to ``max_chunks`` windows, one row each). Text pairs are cut from the longer
        one's end whatever the strategy. Texts are first cut to ``char_bound`` characters per end
        kept, so very long texts cost no more than long ones.
        """
        if max_length < 2 + (1 if text_pairs is not None else 0):
            raise ValueError(f"max_length must leave room for the special tokens. Received: max_length={max_length}")
        if truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}. Received: truncation={truncation!r}")
        texts = list(texts)
        bound = char_bound(max_length)
        try:
            if text_pairs is not None:
                return self._encode_rows(
                    list(zip(_head(texts, bound), _head(list(text_pairs), bound))), max_length=max_length, direction="right"
                )
            if truncation == "head":
                return self._encode_rows(_head(texts, bound), max_length=max_length, direction="right")
            if truncation == "tail":
                return self._encode_rows([text[-bound:] for text in texts], max_length=max_length, direction="left")
            if truncation == "head+tail":
                return self._encode_head_and_tail(texts, max_length, bound)
            return self._encode_chunks(texts, max_length, bound, chunk_overlap, max_chunks)
        except (TypeError, ValueError, AttributeError) as error:
            # The tokenizer's own message ("TextEncodeInput must be ...") does not say which text or why.
            _raise_for_invalid_texts(texts, text_pairs)
            raise ValueError(f"The tokenizer could not encode the texts: {error}") from None

    def _encode_rows(self, inputs: list, *, max_length: int, direction: str) -> EncodedTexts:
        self._tokenizer.enable_truncation(max_length, strategy="longest_first", direction=direction)
        return _encoded(self._tokenizer.encode_batch(inputs))

    def _encode_head_and_tail(self, texts: list[str], max_length: int, bound: int) -> EncodedTexts:
        from tokenizers import Encoding

        budget = max_length - self._tokenizer.num_special_tokens_to_add(False)
        head_tokens = max(1, int(budget * HEAD_SHARE))
        self._tokenizer.no_truncation()
        # Texts within 2 bounds are tokenized whole once; longer ones as their two ends.
        whole = self._tokenizer.encode_batch([text if len(text) <= 2 * bound else text[:bound] for text in texts],
                                             add_special_tokens=False)
        encodings = []
        for text, encoding in zip(texts, whole):
            if len(encoding.ids) <= budget and len(text) <= 2 * bound:
                encodings.append(self._tokenizer.post_process(encoding))
                continue
            head = self._tokenizer.encode(text[:bound], add_special_tokens=False)
            head.truncate(head_tokens)
            tail = self._tokenizer.encode(text[-bound:], add_special_tokens=False)
            tail.truncate(budget - head_tokens, direction="left")
            encodings.append(self._tokenizer.post_process(Encoding.merge([head, tail], growing_offsets=False)))
        return _encoded(encodings)

    def _encode_chunks(self, texts: list[str], max_length: int, bound: int, overlap: int | None, max_chunks: int) -> EncodedTexts:
        budget = max_length - self._tokenizer.num_special_tokens_to_add(False)
        overlap = budget // 4 if overlap is None else overlap
        if not 0 <= overlap < budget:
            raise ValueError(f"chunk_overlap must be in [0, {budget}) tokens for max_length={max_length}. Received: {overlap}")
        self._tokenizer.enable_truncation(max_length, stride=overlap, strategy="longest_first", direction="right")
        # Enough characters for max_chunks windows of new tokens each.
        encodings = self._tokenizer.encode_batch([text[: bound * max_chunks] for text in texts])
        rows, example_index = [], []
        for index, encoding in enumerate(encodings):
            windows = [encoding, *encoding.overflowing][:max_chunks]
            rows += windows
            example_index += [index] * len(windows)
        encoded = _encoded(rows)
        return EncodedTexts(encoded.token_ids, encoded.segment_ids, np.asarray(example_index, dtype=np.int64))


def _head(texts: list[str], bound: int) -> list[str]:
    return [text[:bound] for text in texts]


def _encoded(encodings) -> EncodedTexts:
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
