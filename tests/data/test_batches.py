"""Length-bucketed batches."""

import numpy as np

from textfit.data.batches import TextBatches, bucketed_batches, sorted_batches
from textfit.data.tokenizer import EncodedTexts


def _encoded(lengths):
    ids = [np.arange(1, n + 1, dtype=np.int32) for n in lengths]
    return EncodedTexts(ids, [np.zeros(n, dtype=np.int32) for n in lengths])


def test_bucketed_batches_keep_every_example_once_and_reshuffle():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    rng = np.random.default_rng(0)
    first = bucketed_batches(lengths, 32, rng)
    second = bucketed_batches(lengths, 32, rng)
    for batches in (first, second):
        assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))


def test_bucketed_batches_pad_far_less_than_random_batches():
    lengths = np.random.default_rng(1).integers(3, 120, size=3200)
    bucketed = bucketed_batches(lengths, 32, np.random.default_rng(0))
    random_order = np.random.default_rng(0).permutation(3200)
    random_batches = [random_order[i : i + 32] for i in range(0, 3200, 32)]
    padded = lambda batches: sum(len(b) * lengths[b].max() for b in batches)  # noqa: E731
    assert padded(bucketed) < 0.6 * padded(random_batches)
    assert padded(bucketed) / lengths.sum() < 1.1


def test_text_batches_yield_padded_inputs_labels_and_restore_order():
    encoded = _encoded([5, 2, 9, 3, 7])
    batches = TextBatches(encoded, [0, 1, 0, 1, 0], batch_size=2, shuffle=False, pad_to_multiple_of=1)
    inputs, labels = batches[0]
    assert inputs["token_ids"].shape == (2, 3) and labels.tolist() == [1, 1]
    assert batches.example_order.tolist() == [1, 3, 0, 4, 2]
    assert batches.padded_lengths() == [3, 7, 9]
    assert sorted_batches(np.array([5, 2, 9]), 2)[0].tolist() == [1, 0]


def test_text_batches_reshuffle_on_epoch_end_only_when_shuffling():
    encoded = _encoded(list(range(3, 103)))
    shuffled = TextBatches(encoded, np.zeros(100), batch_size=10, shuffle=True, seed=0)
    before = [b.copy() for b in shuffled.batch_indices]
    shuffled.on_epoch_end()
    assert sorted(shuffled.example_order.tolist()) == list(range(100))
    assert any(not np.array_equal(a, b) for a, b in zip(before, shuffled.batch_indices))
    fixed = TextBatches(encoded, np.zeros(100), batch_size=10, shuffle=False)
    order = fixed.example_order.copy()
    fixed.on_epoch_end()
    assert np.array_equal(order, fixed.example_order)


def test_a_shard_takes_its_rows_of_every_global_batch_and_no_rank_gets_an_empty_one():
    encoded = EncodedTexts([np.arange(1, 2 + i % 5, dtype=np.int32) for i in range(9)],
                           [np.zeros(1 + i % 5, dtype=np.int32) for i in range(9)])
    plan = TextBatches(encoded, np.arange(9), batch_size=4, shuffle=True, seed=3)
    assert sorted(len(b) for b in plan.batch_indices) == [1, 4, 4]  # unsharded: a batch of one
    ranks = [TextBatches(encoded, np.arange(9), batch_size=4, shuffle=True, seed=3) for _ in range(2)]
    for rank, batches in enumerate(ranks):
        batches.set_shard(rank, 2)
    assert len(ranks[0]) == len(ranks[1]) == 2  # the batch of one was folded into its neighbour
    for index in range(2):
        rows = [set(batches[index][1].tolist()) for batches in ranks]
        assert rows[0] and rows[1] and not rows[0] & rows[1]
        assert rows[0] | rows[1] == set(ranks[0].batch_indices[index].tolist())  # together: the whole global batch
    assert sorted(np.concatenate(ranks[0].batch_indices).tolist()) == list(range(9))
