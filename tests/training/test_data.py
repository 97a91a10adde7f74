"""The data module: digits loader and checksum, the reverse task, batching and shifts."""
import itertools

import numpy as np
import pytest
from support import run_fresh_process

import mhsa_ms as mm
from mhsa_ms import data


@pytest.fixture(scope="module")
def digits():
    return mm.load_digits()


def test_digits_checksum_matches_the_documented_one():
    assert data.digits_checksum() == data.DIGITS_SHA256


def test_digits_checksum_is_recorded_in_the_datasets_readme():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "datasets" / "README.md"
    assert data.DIGITS_SHA256 in readme.read_text(encoding="utf-8")


def test_load_digits_shapes_dtypes_and_range(digits):
    assert digits.x_train.shape == (1347, 1, 8, 8) and digits.x_test.shape == (450, 1, 8, 8)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int32
    assert digits.y_test.shape == (450,)
    for x in (digits.x_train, digits.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(x * 16, np.round(x * 16))  # pixels were 0..16


def test_load_digits_split_is_a_stratified_partition(digits):
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    everything = np.concatenate([digits.x_train, digits.x_test]).reshape(-1, 64) * 16
    labels = np.concatenate([digits.y_train, digits.y_test])
    # the same multiset of (image, label) rows as scikit-learn's, nothing lost or duplicated
    ours = sorted(map(tuple, np.column_stack([everything, labels]).astype(int).tolist()))
    theirs = sorted(map(tuple, np.column_stack([raw.data, raw.target]).astype(int).tolist()))
    assert ours == theirs
    per_class = np.bincount(labels, minlength=10)
    in_test = np.bincount(digits.y_test, minlength=10)
    assert np.all(np.abs(in_test - 0.25 * per_class) <= 1)


def test_load_digits_is_deterministic_and_seeded(digits):
    again = mm.load_digits(seed=0)
    other = mm.load_digits(seed=1)
    np.testing.assert_array_equal(again.x_train, digits.x_train)
    np.testing.assert_array_equal(again.y_test, digits.y_test)
    assert not np.array_equal(other.y_test, digits.y_test)
    assert len(mm.load_digits(test_fraction=0.5).y_test) in (898, 899)


@pytest.mark.parametrize("fraction, error", [(0, ValueError), (1, ValueError), (1.5, ValueError),
                                             (-0.1, ValueError), ("0.2", TypeError), (True, TypeError)])
def test_load_digits_rejects_bad_fraction(fraction, error):
    with pytest.raises(error, match="test_fraction must be a number"):
        mm.load_digits(test_fraction=fraction)


def _label_sets():
    """The digits' labels, then random label sets of 2-4 classes (each class at least twice)."""
    from sklearn.datasets import load_digits as sklearn_digits

    yield sklearn_digits().target.astype(np.int32)
    rng = np.random.default_rng(0)
    while True:
        labels = rng.integers(0, rng.integers(2, 5), size=rng.integers(8, 80))
        if np.bincount(labels).min() >= 2:
            yield labels


@pytest.mark.parametrize("case", range(12))
def test_stratified_split_draws_the_indices_train_test_split_draws(case):
    from sklearn.model_selection import train_test_split

    labels = next(itertools.islice(_label_sets(), case % 4, None))
    rng = np.random.default_rng(case)
    fraction, seed = float(rng.uniform(0.2, 0.8)), int(rng.integers(0, 2**31))
    for test_fraction in (0.25, fraction):
        train, test = data.stratified_split(labels, test_fraction, seed)
        their_train, their_test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                                   random_state=seed, stratify=labels)
        np.testing.assert_array_equal(train, their_train)
        np.testing.assert_array_equal(test, their_test)


@pytest.mark.parametrize("labels, fraction, message", [
    ([0, 0, 0, 1, 1, 2], 0.5, "labels must be labels with at least 2 samples of every class"),
    ([0, 0, 1, 1, 2, 2, 3, 3], 0.2, "test_fraction must be a share leaving each set at least one sample per class"),
    ([0, 0, 1, 1, 2, 2, 3, 3], 0.8, "test_fraction must be a share leaving each set at least one sample per class"),
])
def test_stratified_split_refuses_what_train_test_split_refuses(labels, fraction, message):
    from sklearn.model_selection import train_test_split

    with pytest.raises(ValueError):
        train_test_split(np.arange(len(labels)), test_size=fraction, random_state=0, stratify=labels)
    with pytest.raises(ValueError, match=message):
        data.stratified_split(labels, fraction, seed=0)


@pytest.mark.parametrize("arguments, error, message", [
    ((0.0, 0), ValueError, "test_fraction must be a number"), (("0.5", 0), TypeError, "test_fraction must be a number"),
    ((0.5, -1), ValueError, "seed"), ((0.5, 1.5), TypeError, "seed"),
])
def test_stratified_split_rejects_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        data.stratified_split([0, 0, 1, 1], *arguments)


def test_loading_the_digits_does_not_import_scikit_learn():
    found = run_fresh_process("import json, sys\nimport mhsa_ms as mm\nd = mm.load_digits()\n"
                              "print(json.dumps([len(d.y_train), len(d.y_test), 'sklearn' in sys.modules]))")
    assert found == [1347, 450, False]


def test_reverse_task_targets_are_reversed_inputs():
    inputs, targets = mm.reverse_task(100, 7, 5, seed=3)
    assert inputs.shape == targets.shape == (100, 7)
    assert inputs.dtype == targets.dtype == np.int32
    assert inputs.min() >= 0 and inputs.max() <= 4 and len(np.unique(inputs)) == 5
    for i in range(7):
        np.testing.assert_array_equal(targets[:, i], inputs[:, 6 - i])
    again, _ = mm.reverse_task(100, 7, 5, seed=3)
    other, _ = mm.reverse_task(100, 7, 5, seed=4)
    np.testing.assert_array_equal(again, inputs)
    assert not np.array_equal(other, inputs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_samples=0, length=3, vocab_size=4), "num_samples"),
    (dict(num_samples=2, length=0, vocab_size=4), "length"),
    (dict(num_samples=2, length=3, vocab_size=1), "vocab_size"),
    (dict(num_samples=2, length=3, vocab_size=4, seed=-1), "seed"),
])
def test_reverse_task_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mm.reverse_task(**kwargs)


@pytest.mark.parametrize("offsets", [(-1, 2), (3, 0), (-4, 9)])
def test_offset_pair_task_names_the_tokens_at_both_offsets(offsets):
    length, vocab = 7, 5
    inputs, targets = mm.offset_pair_task(200, length, vocab, offsets=offsets, seed=3)
    assert inputs.shape == targets.shape == (200, length)
    assert inputs.dtype == targets.dtype == np.int32
    assert inputs.min() >= 0 and inputs.max() <= vocab - 1 and len(np.unique(inputs)) == vocab
    first, second = offsets
    for t in range(length):  # an independent loop over positions, wrapping by hand
        left = inputs[:, (t + first + 10 * length) % length]
        right = inputs[:, (t + second + 10 * length) % length]
        np.testing.assert_array_equal(targets[:, t] // vocab, left)
        np.testing.assert_array_equal(targets[:, t] % vocab, right)
    assert targets.min() >= 0 and targets.max() <= vocab * vocab - 1
    again, again_targets = mm.offset_pair_task(200, length, vocab, offsets=offsets, seed=3)
    other, _ = mm.offset_pair_task(200, length, vocab, offsets=offsets, seed=4)
    np.testing.assert_array_equal(again, inputs)
    np.testing.assert_array_equal(again_targets, targets)
    assert not np.array_equal(other, inputs)


def test_offset_pair_task_is_ordered():
    # (a, b) and (b, a) name the same two tokens in the other order: different classes
    inputs, targets = mm.offset_pair_task(50, 6, 4, offsets=(-1, 2), seed=0)
    same_inputs, swapped = mm.offset_pair_task(50, 6, 4, offsets=(2, -1), seed=0)
    np.testing.assert_array_equal(same_inputs, inputs)
    np.testing.assert_array_equal(swapped, 4 * (targets % 4) + targets // 4)
    assert not np.array_equal(swapped, targets)


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(num_samples=0, length=3, vocab_size=4), "num_samples", ValueError),
    (dict(num_samples=2, length=1, vocab_size=4), "length", ValueError),
    (dict(num_samples=2, length=3, vocab_size=1), "vocab_size", ValueError),
    (dict(num_samples=2, length=4, vocab_size=4, seed=-1), "seed", ValueError),
    (dict(num_samples=2, length=3, vocab_size=4), "offsets", ValueError),  # default (-1, 2): -1 == 2 mod 3
    (dict(num_samples=2, length=3, vocab_size=4, offsets=(1,)), "offsets", ValueError),
    (dict(num_samples=2, length=3, vocab_size=4, offsets=(1, 4)), "offsets", ValueError),  # 1 == 4 mod 3
    (dict(num_samples=2, length=3, vocab_size=4, offsets=1), "offsets", TypeError),
    (dict(num_samples=2, length=3, vocab_size=4, offsets=(1, 2.0)), r"offsets\[1\]", TypeError),
])
def test_offset_pair_task_rejects_bad_arguments(kwargs, name, error):
    with pytest.raises(error, match=name):
        mm.offset_pair_task(**kwargs)


def _batches(n, batch_size, **kwargs):
    x = np.arange(n)
    return [b[0].tolist() for b in mm.iterate_batches((x, x * 10), batch_size, **kwargs)]


def test_iterate_batches_covers_every_sample_once_per_epoch():
    batches = _batches(10, 5, seed=0)
    assert sorted(sum(batches, [])) == list(range(10))
    assert _batches(10, 5, seed=0) == batches
    assert _batches(10, 5, seed=1) != batches
    assert _batches(10, 5, shuffle=False) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_iterate_batches_keeps_arrays_aligned():
    x = np.arange(12)
    for a, b in mm.iterate_batches((x, x * 10), 4, seed=5):
        np.testing.assert_array_equal(b, a * 10)


def test_iterate_batches_drop_last():
    assert _batches(10, 4, shuffle=False) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _batches(10, 4, shuffle=False, drop_last=False) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("world_size", [2, 4])
def test_rank_shards_concatenate_to_the_single_process_batch(world_size):
    single = _batches(37, 8, seed=(7, 2))
    shards = [_batches(37, 8, seed=(7, 2), rank=r, world_size=world_size) for r in range(world_size)]
    assert len(single) == 4
    for i, batch in enumerate(single):
        parts = [shards[r][i] for r in range(world_size)]
        assert all(len(p) == 8 // world_size for p in parts)
        assert sum(parts, []) == batch


def test_iterate_batches_rejects_batch_not_divisible_by_world_size():
    with pytest.raises(ValueError, match="batch_size=6 must be divisible by world_size=4"):
        _batches(12, 6, world_size=4)


def test_iterate_batches_rejects_uneven_last_shard():
    with pytest.raises(ValueError, match=r"the last batch's size n % batch_size=3 must be divisible by world_size=2"):
        _batches(11, 4, world_size=2, drop_last=False)
    assert len(_batches(10, 4, world_size=2, drop_last=False)) == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(rank=2, world_size=2), "rank"),
    (dict(rank=-1), "rank"),
    (dict(world_size=0), "world_size"),
])
def test_iterate_batches_rejects_bad_rank(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _batches(8, 4, **kwargs)


def test_iterate_batches_rejects_bad_arrays():
    with pytest.raises(ValueError, match=r"arrays\[0\] and arrays\[1\] must have the same number of samples "
                                         r"\(first axis\), got 4, 5"):
        list(mm.iterate_batches((np.zeros(4), np.zeros(5)), 2))
    with pytest.raises(TypeError, match="tuple"):
        list(mm.iterate_batches(np.zeros(4), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(mm.iterate_batches((np.zeros(4),), 0))


def _centre_of_mass(images):
    rows, cols = np.mgrid[0:images.shape[-2], 0:images.shape[-1]]
    mass = images[:, 0].sum(axis=(1, 2))
    return np.stack([(images[:, 0] * rows).sum(axis=(1, 2)) / mass,
                     (images[:, 0] * cols).sum(axis=(1, 2)) / mass], 1)  # (B, 2)


@pytest.mark.parametrize("max_shift", [1, 0.5, 2])
def test_random_shift_moves_each_image_by_a_uniform_offset(max_shift):
    images = np.zeros((400, 1, 9, 9), np.float32)
    images[:, 0, 4, 4] = 1.0  # one bright pixel in the centre, far enough from the border
    shifted = data.random_shift(images, max_shift, np.random.default_rng(0))
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    np.testing.assert_allclose(shifted.sum(axis=(1, 2, 3)), 1.0, atol=1e-6)  # no ink lost or created
    offsets = _centre_of_mass(shifted) - 4.0  # (B, 2): how far each image moved
    assert np.abs(offsets).max() <= max_shift + 1e-6
    assert np.abs(offsets).max() > 0.9 * max_shift  # the whole range is used
    assert abs(offsets.mean()) < 0.15 * max_shift  # no drift in either direction
    again = data.random_shift(images, max_shift, np.random.default_rng(0))
    np.testing.assert_array_equal(again, shifted)


@pytest.mark.parametrize("max_shift", [1, 2.5])
def test_random_shift_interpolates_each_image_between_its_four_whole_pixel_shifts(max_shift):
    images = np.random.default_rng(1).random((50, 2, 6, 7)).astype(np.float32)  # (B, C, H, W), not square
    shifted = data.random_shift(images, max_shift, np.random.default_rng(2))
    offsets = np.random.default_rng(2).uniform(-max_shift, max_shift, size=(50, 2))  # the offsets it draws
    pad = int(np.ceil(max_shift)) + 1  # every whole shift below fits in the padding, so roll only moves zeros in
    for image, moved, (dy, dx) in zip(images, shifted, offsets):
        iy, ix = int(np.floor(dy)), int(np.floor(dx))
        fy, fx = dy - iy, dx - ix
        padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))  # (C, H+2p, W+2p)
        expected = np.zeros_like(image)
        for ky, wy in ((0, 1 - fy), (1, fy)):
            for kx, wx in ((0, 1 - fx), (1, fx)):
                expected += wy * wx * np.roll(padded, (iy + ky, ix + kx), axis=(1, 2))[:, pad:pad + 6, pad:pad + 7]
        np.testing.assert_allclose(moved, expected, atol=1e-6)


def test_random_shift_fills_with_zeros_and_zero_shift_is_identity():
    images = np.ones((3, 2, 4, 4), np.float32)
    shifted = data.random_shift(images, 1, np.random.default_rng(1))
    assert shifted.min() >= 0.0 and shifted.max() <= 1.0 + 1e-6
    assert (shifted[:, :, [0, -1]].min(axis=(1, 2, 3)) < 1.0).any()  # some border got zeros
    np.testing.assert_array_equal(data.random_shift(images, 0, np.random.default_rng(1)), images)


def test_random_shift_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="4-D"):
        data.random_shift(np.zeros((2, 8, 8)), 1, rng)
    with pytest.raises(ValueError, match="max_shift"):
        data.random_shift(np.zeros((1, 1, 8, 8)), -1, rng)
    with pytest.raises(TypeError, match="max_shift must be a number, got str '1'"):
        data.random_shift(np.zeros((1, 1, 8, 8)), "1", rng)
    with pytest.raises(TypeError, match="Generator"):
        data.random_shift(np.zeros((1, 1, 8, 8)), 1, 0)


def test_sort_task_targets_are_sorted_inputs():
    inputs, targets = mm.sort_task(100, 7, 5, seed=3)
    assert inputs.shape == targets.shape == (100, 7)
    assert inputs.dtype == targets.dtype == np.int32
    np.testing.assert_array_equal(inputs, mm.reverse_task(100, 7, 5, seed=3)[0])  # the same draw
    assert (np.diff(targets, axis=1) >= 0).all()
    for row_in, row_out in zip(inputs, targets):
        assert sorted(row_in.tolist()) == row_out.tolist()  # the same tokens, ascending
    assert not np.array_equal(mm.sort_task(100, 7, 5, seed=4)[0], inputs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_samples=0, length=3, vocab_size=4), "num_samples"),
    (dict(num_samples=2, length=0, vocab_size=4), "length"),
    (dict(num_samples=2, length=3, vocab_size=1), "vocab_size"),
    (dict(num_samples=2, length=3, vocab_size=4, seed=-1), "seed"),
])
def test_sort_task_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mm.sort_task(**kwargs)
