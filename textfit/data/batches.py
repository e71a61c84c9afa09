"""Batches of tokenized examples for Keras: length-bucketed, padded per batch.

Training batches are drawn from examples of similar length, so little compute
goes to padding, yet the order is reshuffled every epoch: the examples are
shuffled, cut into chunks of ``BUCKET_CHUNK_BATCHES`` batches, each chunk is
sorted by length and split into batches, and the batches are shuffled.
"""

import keras
import numpy as np

from textfit.data.tokenizer import EncodedTexts, pad_batch

# A chunk of 50 batches keeps epochs well mixed while most batches pad < 10 % (sorting
# the whole set would give near-zero padding but the same batches every epoch).
BUCKET_CHUNK_BATCHES = 50


def default_pad_multiple() -> int:
    """Pad lengths to multiples of 16 on JAX (few shapes to compile), exactly on torch (eager)."""
    return 16 if keras.backend.backend() == "jax" else 1


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split shuffled example indices into batches of similar length, in shuffled batch order."""
    order = rng.permutation(len(lengths))
    chunk_size = batch_size * BUCKET_CHUNK_BATCHES
    batches = []
    for start in range(0, len(order), chunk_size):
        chunk = order[start : start + chunk_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int, batch_overhead_tokens: int = 0) -> list[np.ndarray]:
    """Split example indices into batches after sorting by length (for evaluation and prediction).

    With ``batch_overhead_tokens`` > 0 the batches are cut where they cost least in all: padded tokens
    plus that fixed cost per batch (what one more model call costs, counted in tokens). A few texts
    of mixed lengths — a server's micro-batch — then run as two or three batches of like lengths
    instead of one padded to the longest; many texts still fill whole batches.
    """
    order = np.argsort(lengths, kind="stable")
    if batch_overhead_tokens <= 0 or len(order) <= 1:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    # Dynamic programming over the sorted lengths (a batch ending at j pads to lengths[j]): O(n * batch_size).
    sorted_lengths = np.asarray(lengths, dtype=np.float64)[order]
    least = np.zeros(len(order) + 1)  # least[j]: the cheapest way to run the j shortest examples
    start = np.zeros(len(order) + 1, dtype=np.int64)
    for end in range(1, len(order) + 1):
        first = max(0, end - batch_size)
        costs = least[first:end] + (end - np.arange(first, end)) * sorted_lengths[end - 1]
        best = int(np.argmin(costs))  # the first minimum: the fullest batch among equals
        least[end] = costs[best] + batch_overhead_tokens
        start[end] = first + best
    batches, end = [], len(order)
    while end > 0:
        batches.append(order[start[end] : end])
        end = start[end]
    return batches[::-1]


class TextBatches(keras.utils.PyDataset):
    """A Keras dataset over tokenized examples, padded per batch.

    Use it to feed ``fit``/``evaluate``/``predict`` when the texts are already
    encoded; ``TextClassifier`` builds one for you from raw strings.

    Args:
        encoded: the tokenized examples.
        targets: per example, a label id (single-label), a 0/1 row (multi-label) or a number
            (regression); None for prediction.
        batch_size: examples per batch.
        shuffle: reshuffle (length-bucketed) every epoch; else sort by length once.
        seed: seed of the shuffling.
        pad_token_id: id used for padding.
        pad_to_multiple_of: round each batch's length up to this multiple.
        sample_weights: optional float weight per example.
        batch_overhead_tokens: without shuffling, the fixed cost of one batch in tokens: batches are
            then cut where padding plus this cost is least (see ``sorted_batches``); 0 cuts every
            ``batch_size`` examples.

    Example:
        >>> batches = TextBatches(encoded, targets, batch_size=32, shuffle=True, seed=0, pad_token_id=0)
        >>> inputs, label_batch = batches[0]
        >>> sorted(inputs)
        ['padding_mask', 'segment_ids', 'token_ids']
    """

    def __init__(
        self,
        encoded: EncodedTexts,
        targets=None,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        pad_token_id: int = 0,
        pad_to_multiple_of: int | None = None,
        sample_weights=None,
        batch_overhead_tokens: int = 0,
    ):
        super().__init__()
        if len(encoded) == 0:
            raise ValueError("Received no examples: the data set is empty.")
        self.encoded = encoded
        self.targets = None if targets is None else np.asarray(targets)
        if self.targets is not None and self.targets.dtype.kind in "iub":
            self.targets = self.targets.astype(np.int32)
        self.sample_weights = None if sample_weights is None else np.asarray(sample_weights, dtype=np.float32)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of or default_pad_multiple()
        self.batch_overhead_tokens = batch_overhead_tokens
        self._lengths = encoded.lengths
        self.seed = seed
        self.epoch = 0
        self.shard = None  # (rank, world size) in data-parallel training: this process's rows of every batch
        self.batch_indices = self._plan()

    def _plan(self) -> list[np.ndarray]:
        if self.shuffle:
            # The order depends on (seed, epoch) only, so a resumed run can rebuild any epoch's batches.
            batches = bucketed_batches(self._lengths, self.batch_size, np.random.default_rng([self.seed, self.epoch]))
        else:
            lengths = self._lengths
            if self.batch_overhead_tokens:  # cut where the padded lengths change
                lengths = -(-np.asarray(lengths) // self.pad_to_multiple_of) * self.pad_to_multiple_of
            batches = sorted_batches(lengths, self.batch_size, self.batch_overhead_tokens)
        if self.shard is not None and len(batches) > 1 and len(batches[-1]) < self.shard[1]:
            # A rank with no rows would have no loss: fold a batch smaller than the world into its neighbour.
            batches = batches[:-2] + [np.concatenate(batches[-2:])]
        return batches

    def set_shard(self, rank: int, world_size: int) -> None:
        """Yield only rows ``rank::world_size`` of every (global) batch; the plan stays the same on every rank."""
        if len(self.encoded) < world_size:
            raise ValueError(f"{len(self.encoded)} training examples cannot be shared by {world_size} processes; use fewer.")
        self.shard = (rank, world_size) if world_size > 1 else None
        self.batch_indices = self._plan()

    def set_epoch(self, epoch: int) -> None:
        """Plan the batches of ``epoch`` (0-based), as an uninterrupted run would have them."""
        self.epoch = epoch
        self.batch_indices = self._plan()

    def __len__(self) -> int:
        return len(self.batch_indices)

    def __getitem__(self, index: int):
        indices = self.batch_indices[index]
        if self.shard is not None:
            indices = indices[self.shard[0] :: self.shard[1]]
        inputs = pad_batch(
            self.encoded, indices, pad_token_id=self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of
        )
        if self.targets is None:
            return (inputs,)
        if self.sample_weights is None:
            return inputs, self.targets[indices]
        return inputs, self.targets[indices], self.sample_weights[indices]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.set_epoch(self.epoch + 1)

    @property
    def example_order(self) -> np.ndarray:
        """Example indices in the order the batches yield them (to restore input order)."""
        return np.concatenate(self.batch_indices)

    def padded_lengths(self) -> list[int]:
        """The padded length of each batch, for inspecting how many shapes a run sees."""
        multiple = self.pad_to_multiple_of
        return [int(-(-self._lengths[b].max() // multiple) * multiple) for b in self.batch_indices]


class EpochOrder(keras.callbacks.Callback):
    """Give ``batches`` the order of the epoch Keras is starting.

    Keras calls a dataset's ``on_epoch_end`` a varying number of times (also when an epoch
    iterator resets), so ``fit`` pins the order to Keras' epoch number instead: epoch ``e``
    always sees the batches of (seed, e), in a fresh run and in a resumed one alike.
    """

    def __init__(self, batches: TextBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        if self.batches.shuffle:
            self.batches.set_epoch(epoch)
