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


def _cost(batches, lengths, overhead):
    return sum(overhead + len(batch) * lengths[batch].max() for batch in batches)


def _least_cost_by_brute_force(sorted_lengths, batch_size, overhead):
    # Every way to cut the sorted lengths into consecutive batches of at most batch_size (2^(n-1) of them).
    n, best = len(sorted_lengths), float("inf")
    for mask in range(2 ** (n - 1)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        sizes = np.diff(cuts)
        if sizes.max() <= batch_size:
            best = min(best, sum(overhead + size * sorted_lengths[end - 1] for size, end in zip(sizes, cuts[1:])))
    return best


def test_sorted_batches_with_a_batch_cost_cut_where_padding_plus_calls_cost_least():
    rng = np.random.default_rng(0)
    for trial in range(40):
        lengths = rng.integers(2, 80, size=int(rng.integers(1, 10)))
        batch_size, overhead = int(rng.integers(1, 6)), int(rng.integers(1, 100))
        batches = sorted_batches(lengths, batch_size, overhead)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
        assert all(1 <= len(batch) <= batch_size for batch in batches)
        assert [lengths[b].max() for b in batches] == sorted(lengths[b].max() for b in batches)
        assert _cost(batches, lengths, overhead) == _least_cost_by_brute_force(np.sort(lengths), batch_size, overhead), trial


def test_a_server_micro_batch_of_mixed_lengths_runs_as_batches_of_like_lengths():
    lengths = np.array([12, 60, 14, 58, 11, 62, 13, 59] * 4)  # short and long tweets, interleaved
    plain = sorted_batches(lengths, 64)
    cut = sorted_batches(lengths, 64, batch_overhead_tokens=128)
    assert len(plain) == 1 and len(cut) == 2
    assert {tuple(sorted(lengths[b].tolist()))[-1] for b in cut} == {14, 62}
    assert _cost(cut, lengths, 0) == 16 * 14 + 16 * 62 < _cost(plain, lengths, 0) == 32 * 62
    # Many texts of like lengths still fill whole batches.
    many = np.random.default_rng(0).integers(10, 70, size=5000)
    assert np.mean([len(b) for b in sorted_batches(many, 64, 128)]) > 50
    # TextBatches (prediction) cuts on the lengths it pads to.
    batches = TextBatches(_encoded([3, 17, 4, 18]), batch_size=4, shuffle=False, pad_to_multiple_of=1, batch_overhead_tokens=4)
    assert batches.padded_lengths() == [4, 18]
    batches = TextBatches(_encoded([3, 17, 4, 18]), batch_size=4, shuffle=False, pad_to_multiple_of=32, batch_overhead_tokens=4)
    assert batches.padded_lengths() == [32]


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
