"""TokenEncoder: shapes, options, errors, and that it learns the reverse task with anti-diagonal attention."""
import numpy as np
import pytest
from mindspore import Tensor

import mhsa_ms as mm


def _tokens(batch, length, vocab, seed=0):
    return Tensor(np.random.default_rng(seed).integers(0, vocab, size=(batch, length)).astype(np.int32))


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_token_encoder_shapes(positions, norm_first):
    model = mm.TokenEncoder(7, 6, embed_dim=16, depth=2, num_heads=4, norm_first=norm_first, positions=positions)
    logits, attention = model(_tokens(3, 6, 7), return_attention=True)
    assert tuple(logits.shape) == (3, 6, 7)
    assert len(attention) == 2 and all(tuple(a.shape) == (3, 4, 6, 6) for a in attention)
    assert (model.norm is None) == (not norm_first)  # a final LN only closes a pre-norm stack
    assert tuple(model(_tokens(3, 6, 7)).shape) == (3, 6, 7)


def test_token_encoder_uses_positions():
    mm.seed_everything(0)
    model = mm.TokenEncoder(5, 4, embed_dim=16, depth=1, num_heads=2)
    tokens = np.array([[1, 1, 1, 1]], np.int32)  # the same token everywhere
    logits = model(Tensor(tokens)).asnumpy()[0]  # (N, V)
    assert np.abs(logits[0] - logits[3]).max() > 1e-3  # different positions, different outputs


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(positions="rotary"), ValueError, "positions"),
    (dict(vocab_size=0), ValueError, "vocab_size"),
    (dict(depth=0), ValueError, "depth"),
])
def test_token_encoder_rejects_bad_arguments(kwargs, error, match):
    config = dict(vocab_size=5, max_tokens=4, embed_dim=8, depth=1, num_heads=2)
    with pytest.raises(error, match=match):
        mm.TokenEncoder(**{**config, **kwargs})


def test_token_encoder_rejects_bad_tokens():
    model = mm.TokenEncoder(5, 4, embed_dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"tokens must be 2-D \(B, N\)"):
        model(Tensor(np.zeros((2, 4, 1), np.int32)))
    with pytest.raises(ValueError, match="max_tokens"):
        model(Tensor(np.zeros((2, 6), np.int32)))


def test_token_encoder_learns_to_reverse_with_anti_diagonal_attention():
    length, vocab, steps = 6, 8, 80
    inputs, targets = mm.reverse_task(2048, length, vocab, seed=0)
    test_inputs, test_targets = mm.reverse_task(256, length, vocab, seed=1)
    mm.seed_everything(0)
    model = mm.TokenEncoder(vocab, length, embed_dim=32, depth=1, num_heads=2)
    optimizer = mm.make_optimizer(model, lr=3e-3, total_steps=steps, warmup_steps=8)
    step = mm.make_train_step(model, mm.cross_entropy, optimizer)
    batches = [b for epoch in range(3) for b in mm.iterate_batches((inputs, targets), 64, seed=(0, epoch))]
    for x, y in batches[:steps]:
        step(x, y)
    model.set_train(False)
    logits, attention = model(Tensor(test_inputs), return_attention=True)
    assert (logits.asnumpy().argmax(-1) == test_targets).mean() >= 0.99
    mean_map = attention[0].asnumpy().mean(axis=(0, 1))  # (N, N), averaged over samples and heads
    assert [int(row.argmax()) for row in mean_map] == list(range(length - 1, -1, -1))


def test_token_encoder_without_positions_is_permutation_equivariant():
    mm.seed_everything(0)
    tokens = _tokens(2, 6, 7).asnumpy()
    perm = np.array([3, 0, 5, 1, 4, 2])
    for positions, equivariant in (("none", True), ("sinusoidal", False), ("learned", False)):
        model = mm.TokenEncoder(7, 6, embed_dim=16, depth=2, num_heads=4, positions=positions)
        if positions == "learned":  # its start (N(0, 0.02^2)) is near zero: give it a trained-looking size
            model.positions.embedding.set_data(Tensor(np.random.default_rng(0).normal(size=(1, 6, 16)).astype(np.float32)))
        logits = model(Tensor(tokens)).asnumpy()
        permuted = model(Tensor(tokens[:, perm])).asnumpy()
        assert np.allclose(permuted, logits[:, perm], atol=1e-5) == equivariant, positions
