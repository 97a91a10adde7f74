"""The course's data: scikit-learn's handwritten digits, generated toy tasks, batching.

Nothing here downloads anything: the digits ship inside scikit-learn (read
from its data folder, without importing it) and the toy task is generated
from a seed.  See ``datasets/README.md`` for sources,
licences and checksums.

>>> import mhsa_ms as mm
>>> data = mm.load_digits()
>>> data.x_train.shape, data.x_train.dtype, data.y_train.dtype, data.x_test.shape
((1347, 1, 8, 8), dtype('float32'), dtype('int32'), (450, 1, 8, 8))
>>> batches = list(mm.iterate_batches((data.x_train, data.y_train), batch_size=64))
>>> len(batches), batches[0][0].shape                        # 1347 // 64 full batches
(21, (64, 1, 8, 8))
"""
import gzip
import hashlib
import importlib.util
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._checks import (
    check_array_dims,
    check_bool,
    check_divisible,
    check_instance,
    check_int,
    check_length,
    check_number,
    check_positive_int,
    check_same,
    check_seed,
    check_value,
)

# SHA-256 of the digits as uint8 bytes: the (1797, 8, 8) pixels (0..16) then the
# (1797,) labels, in scikit-learn's order.  Checked by tests/test_data.py.
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
DIGITS_CLASSES = 10


class Digits(NamedTuple):
    """Train/test split of the digits: x (n, 1, 8, 8) float32 in [0, 1], y (n,) int32 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _raw_digits():
    """scikit-learn's bundled copy: pixels (1797, 8, 8) uint8 in 0..16, labels (1797,) uint8.

    Read from scikit-learn's data folder without importing scikit-learn, which
    costs about 1 s in every process that loads the digits (lesson 8 starts four).
    """
    sklearn = importlib.util.find_spec("sklearn")  # finds the package without running it
    if sklearn is None or sklearn.origin is None:
        raise ModuleNotFoundError("the digits ship with scikit-learn, which is not installed: "
                                  "pip install scikit-learn")
    with gzip.open(Path(sklearn.origin).parent / "datasets" / "data" / "digits.csv.gz", "rt") as csv:
        table = np.loadtxt(csv, delimiter=",")  # (1797, 65): 64 pixels in row order, then the label
    return table[:, :-1].reshape(-1, 8, 8).astype(np.uint8), table[:, -1].astype(np.uint8)


def _approximate_mode(class_counts, draws, rng):
    """Per class, how many of ``draws`` samples a stratified split takes: the share rounded down,
    then one more for the largest remainders, ties broken by ``rng`` (scikit-learn's rule)."""
    exact = class_counts / class_counts.sum() * draws
    taken = np.floor(exact)
    missing = int(draws - taken.sum())
    remainder = exact - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing == 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(int)


def stratified_split(labels, test_fraction, seed):
    """(train, test) index arrays of a stratified random split, as scikit-learn draws them.

    The same indices as ``sklearn.model_selection.train_test_split(..., test_size=test_fraction,
    random_state=seed, stratify=labels)`` (tested against it), without importing scikit-learn:
    the test set has ceil(test_fraction * n) samples, every class keeps its share in both sets.

    Raises:
        TypeError: ``test_fraction`` not a number, ``seed`` not an int.
        ValueError: ``test_fraction`` outside (0, 1), a negative ``seed``, a class with fewer than
            2 samples, or a set smaller than the number of classes.

    >>> from mhsa_ms.data import stratified_split
    >>> train, test = stratified_split([0, 0, 0, 1, 1, 1, 1, 1], 0.5, seed=0)
    >>> sorted(train.tolist() + test.tolist()), len(test)
    ([0, 1, 2, 3, 4, 5, 6, 7], 4)
    """
    check_number("test_fraction", test_fraction, 0.0, 1.0, exclusive_minimum=True, exclusive_maximum=True)
    check_seed(seed)
    labels = np.asarray(labels)
    n_test = math.ceil(test_fraction * len(labels))
    n_train = len(labels) - n_test
    classes, class_of, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    check_value("labels", f"{class_counts.min()} sample(s) of class {classes[class_counts.argmin()]}",
                class_counts.min() >= 2, "labels with at least 2 samples of every class (a stratified split)")
    check_value("test_fraction", test_fraction, min(n_train, n_test) >= len(classes),
                f"a share leaving each set at least one sample per class ({len(classes)} classes, "
                f"{len(labels)} samples; this one gives train {n_train}, test {n_test})")
    members = np.split(np.argsort(class_of, kind="stable"), np.cumsum(class_counts)[:-1])  # per class, in order
    rng = np.random.RandomState(seed)
    train_counts = _approximate_mode(class_counts, n_train, rng)
    test_counts = _approximate_mode(class_counts - train_counts, n_test, rng)
    train, test = [], []
    for k, count in enumerate(class_counts):
        shuffled = members[k][rng.permutation(count)]
        train.extend(shuffled[:train_counts[k]])
        test.extend(shuffled[train_counts[k]:train_counts[k] + test_counts[k]])
    return rng.permutation(train), rng.permutation(test)


def digits_checksum():
    """SHA-256 of the raw digits as loaded here; equals :data:`DIGITS_SHA256`.

    >>> import mhsa_ms as mm
    >>> from mhsa_ms.data import DIGITS_SHA256, digits_checksum
    >>> digits_checksum() == DIGITS_SHA256
    True
    """
    images, labels = _raw_digits()
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def load_digits(test_fraction=0.25, seed=0):
    """The 1797 8x8 handwritten digits, split stratified into train and test sets.

    Args:
        test_fraction: share of the images held out for testing, in (0, 1).
        seed: seed of the split (int >= 0); the same seed gives the same split.

    Returns:
        :class:`Digits` with x (n, 1, 8, 8) float32 scaled to [0, 1] (pixels / 16)
        and y (n,) int32; every class keeps its share in both sets.
    """
    images, labels = _raw_digits()
    x = (images.astype(np.float32) / 16.0)[:, None]  # (n, 1, 8, 8): C = 1 channel
    y = labels.astype(np.int32)
    train, test = stratified_split(y, test_fraction, seed)
    return Digits(x[train], y[train], x[test], y[test])


def _random_tokens(num_samples, length, vocab_size, seed):
    """(num_samples, length) int32 tokens drawn uniformly from 0..vocab_size-1 (the toy tasks' inputs)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab_size, size=(num_samples, length)).astype(np.int32)  # (n, N)


def reverse_task(num_samples, length, vocab_size, seed=0):
    """A generated toy task: read a token sequence, output it reversed.

    Tokens are drawn uniformly from 0..vocab_size-1.  Position i of the
    target is position length-1-i of the input, so a model that solves it
    must attend along the anti-diagonal.

    Returns:
        (inputs, targets), both (num_samples, length) int32.

    >>> import mhsa_ms as mm
    >>> inputs, targets = mm.reverse_task(2, 5, 10, seed=0)
    >>> inputs.shape, inputs.dtype.name
    ((2, 5), 'int32')
    >>> bool((targets == inputs[:, ::-1]).all())
    True
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("length", length)
    check_int("vocab_size", vocab_size, minimum=2)
    check_seed(seed)
    inputs = _random_tokens(num_samples, length, vocab_size, seed)  # (n, N)
    targets = np.ascontiguousarray(inputs[:, ::-1])  # (n, N): reversed along N
    return inputs, targets


def sort_task(num_samples, length, vocab_size, seed=0):
    """A generated toy task: read a token sequence, output its tokens in ascending order.

    Tokens are drawn uniformly from 0..vocab_size-1 (repeats allowed).
    Unlike :func:`reverse_task`, which source position feeds output position
    i depends on the tokens, not on i alone: a model must find, for each
    output, the source token of the right rank.

    Returns:
        (inputs, targets), both (num_samples, length) int32.

    >>> import mhsa_ms as mm
    >>> inputs, targets = mm.sort_task(1, 6, 10, seed=0)
    >>> inputs.tolist(), targets.tolist()
    ([[8, 6, 5, 2, 3, 0]], [[0, 2, 3, 5, 6, 8]])
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("length", length)
    check_int("vocab_size", vocab_size, minimum=2)
    check_seed(seed)
    inputs = _random_tokens(num_samples, length, vocab_size, seed)  # (n, N)
    return inputs, np.sort(inputs, axis=1)  # (n, N): ascending along N


def offset_pair_task(num_samples, length, vocab_size, offsets=(-1, 2), seed=0):
    r"""A generated toy task: name the two tokens found at two offsets from each position.

    Tokens are drawn uniformly from 0..vocab_size-1.  With ``offsets = (a, b)``
    the target at position t is the pair (x[t+a], x[t+b]), positions taken
    modulo ``length`` (the sequence wraps around), coded as one class

    .. math:: y_t = V \cdot x_{(t+a) \bmod N} + x_{(t+b) \bmod N} \in \{0, \dots, V^2 - 1\}

    so that ``y // V`` is the first token and ``y % V`` the second.  Every
    output must gather from two different relative positions: one attention
    head returns a single weighted average of the values, in which the two
    tokens are mixed, while two heads can read one position each.  Lesson 3
    trains one, two, four and eight heads on it at the same width.

    Args:
        num_samples: number of sequences n.
        length: tokens per sequence N (>= 2).
        vocab_size: number of token ids V (>= 2); there are V**2 target classes.
        offsets: two ints (a, b), different modulo ``length``.
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same arrays.

    Returns:
        (inputs, targets), both (num_samples, length) int32.

    >>> import mhsa_ms as mm
    >>> inputs, targets = mm.offset_pair_task(1, 5, 10, offsets=(-1, 2), seed=0)
    >>> inputs.tolist()
    [[8, 6, 5, 2, 3]]
    >>> targets.tolist()                     # position 0: x[-1 mod 5] = 3, x[2] = 5 -> 3 * 10 + 5
    [[35, 82, 63, 58, 26]]
    """
    check_positive_int("num_samples", num_samples)
    check_int("length", length, minimum=2)
    check_int("vocab_size", vocab_size, minimum=2)
    check_instance("offsets", offsets, (tuple, list), "a pair of ints (a, b)")
    check_length("offsets", offsets, 2, "the two relative positions a and b")
    for index, offset in enumerate(offsets):
        check_int(f"offsets[{index}]", offset)
    first, second = offsets
    check_value("offsets", offsets, (first - second) % length != 0,
                f"two positions different modulo length={length}")
    check_seed(seed)
    inputs = _random_tokens(num_samples, length, vocab_size, seed)  # (n, N)
    positions = np.arange(length)  # (N,)
    left = inputs[:, (positions + first) % length]  # (n, N): x[t + a], wrapping around
    right = inputs[:, (positions + second) % length]  # (n, N): x[t + b], wrapping around
    targets = (vocab_size * left + right).astype(np.int32)  # (n, N): one class per pair
    return inputs, targets


def iterate_batches(arrays, batch_size, shuffle=True, seed=0, rank=0, world_size=1, drop_last=True):
    """Yield this rank's shard of each global batch of ``arrays``.

    One permutation of the n samples (seeded, identical on every rank) is cut
    into global batches of ``batch_size``; rank r of ``world_size`` receives
    the r-th contiguous block of batch_size / world_size samples of each.  So
    the shards of all ranks, concatenated in rank order, are exactly the
    batch a single process (``world_size=1``) reads with the same seed.

    Args:
        arrays: tuple of arrays sharing their first axis n (e.g. (x, y)).
        batch_size: global batch size, divisible by ``world_size``.
        shuffle: permute the samples (with ``seed``) before batching.
        seed: int or sequence of ints for ``numpy.random.default_rng``; pass
            e.g. ``(seed, epoch)`` for a new order every epoch.
        rank, world_size: this process's index and the number of processes.
        drop_last: drop the final partial batch.  When False, its size must
            be divisible by ``world_size`` too.

    Yields:
        tuples of arrays, each (batch_size / world_size, ...).

    >>> import numpy as np, mhsa_ms as mm
    >>> x = np.arange(8)
    >>> [b[0].tolist() for b in mm.iterate_batches((x,), 4, shuffle=False, rank=1, world_size=2)]
    [[2, 3], [6, 7]]
    """
    check_instance("arrays", arrays, (tuple, list), "a non-empty tuple of arrays")
    check_positive_int("len(arrays)", len(arrays))
    n = len(arrays[0])
    check_same(tuple(f"arrays[{i}]" for i in range(len(arrays))), tuple(len(array) for array in arrays),
               "number of samples (first axis)")
    check_positive_int("batch_size", batch_size)
    check_positive_int("world_size", world_size)
    check_int("rank", rank, 0, below=world_size, below_name="world_size")
    check_divisible("batch_size", batch_size, "world_size", world_size,
                    "so that every rank gets an equal shard of each global batch")
    check_bool("drop_last", drop_last)
    remainder = n % batch_size
    if not drop_last:
        check_divisible("the last batch's size n % batch_size", remainder, "world_size", world_size,
                        f"with drop_last=False (n={n}); use drop_last=True or a batch_size that divides n")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - remainder if drop_last else n
    for start in range(0, stop, batch_size):
        batch = order[start:min(start + batch_size, n)]  # global batch indices
        shard = len(batch) // world_size
        mine = batch[rank * shard:(rank + 1) * shard]  # this rank's contiguous block
        yield tuple(array[mine] for array in arrays)


def random_shift(images, max_shift, rng):
    """Shift each image by its own random offset of up to ``max_shift`` pixels, filling with zeros.

    The offsets dy, dx are drawn uniformly from [-max_shift, max_shift] for
    every image; fractional offsets interpolate bilinearly, so a shift of
    0.5 pixel moves half of each pixel's ink to its neighbour.  Pixels moved
    out of the frame are lost.

    Args:
        images: (B, C, H, W) array.
        max_shift: largest shift in pixels (a number >= 0).
        rng: a ``numpy.random.Generator``.

    Returns:
        (B, C, H, W) array of the same dtype.

    >>> import numpy as np, mhsa_ms as mm
    >>> image = np.zeros((1, 1, 3, 3), np.float32); image[0, 0, 1, 1] = 1
    >>> from mhsa_ms.data import random_shift
    >>> shifted = random_shift(image, 0.5, np.random.default_rng(0))
    >>> round(float(shifted.sum()), 6), shifted.shape          # the ink moved, none was lost
    (1.0, (1, 1, 3, 3))
    """
    images = check_array_dims("images", images, 4, "(B, C, H, W)")
    check_number("max_shift", max_shift, 0.0)
    check_instance("rng", rng, np.random.Generator, "a numpy.random.Generator")
    batch, _, height, width = images.shape
    s = int(np.ceil(max_shift)) + 1  # padding wide enough for floor(offset) and floor(offset) + 1
    padded = np.pad(images.astype(np.float32), ((0, 0), (0, 0), (s, s), (s, s)))  # (B, C, H+2s, W+2s)
    channels_last = padded.transpose(0, 2, 3, 1)  # (B, H+2s, W+2s, C): a view, for one gather per corner
    offsets = rng.uniform(-max_shift, max_shift, size=(batch, 2))  # (B, 2): dy, dx
    whole = np.floor(offsets).astype(int)  # (B, 2)
    frac = offsets - whole  # (B, 2) in [0, 1)
    images_index = np.arange(batch)[:, None, None]  # (B, 1, 1)
    out = np.zeros(images.shape, np.float32)
    for ky, wy in ((0, 1.0 - frac[:, 0]), (1, frac[:, 0])):
        for kx, wx in ((0, 1.0 - frac[:, 1]), (1, frac[:, 1])):
            # content moves by (dy + ky, dx + kx): read each image's window starting at (s - dy - ky, s - dx - kx)
            rows = (s - whole[:, 0] - ky)[:, None, None] + np.arange(height)[None, :, None]  # (B, H, 1)
            cols = (s - whole[:, 1] - kx)[:, None, None] + np.arange(width)[None, None, :]  # (B, 1, W)
            window = channels_last[images_index, rows, cols].transpose(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
            out += (wy * wx).astype(np.float32)[:, None, None, None] * window  # weight (B,) -> (B, 1, 1, 1)
    return out.astype(images.dtype)
