"""Heads as projections: selection matrices, split/merge, the per-head form, and
parity with mindspore.nn.MultiheadAttention."""
import numpy as np
import pytest

import mhsa_ms as mm
from support import as_bool, random_projections, tensor


def test_worked_example_two_heads():
    q = np.array([[[1.0, 1.0, 0.0, 1.0]]])  # (B=1, N=1, D=4)
    heads = [(q @ mm.head_selection_matrix(4, 2, i))[0, 0] for i in range(2)]
    assert [head.tolist() for head in heads] == [[1.0, 1.0], [0.0, 1.0]]
    split = mm.split_heads(tensor(q), 2).asnumpy()  # (1, 2, 1, 2)
    assert split.shape == (1, 2, 1, 2)
    assert split[0, :, 0].tolist() == [[1.0, 1.0], [0.0, 1.0]]


@pytest.mark.parametrize("width, heads", [(12, 3), (8, 8), (6, 1)])
def test_head_selection_matrix_reproduces_split(width, heads):
    x = np.random.default_rng(0).standard_normal((2, 5, width)).astype(np.float32)
    split_np = mm.split_heads(x, heads)
    split_ms = mm.split_heads(tensor(x), heads).asnumpy()
    assert split_np.shape == (2, heads, 5, width // heads)
    assert np.array_equal(split_np, split_ms)
    selections = [mm.head_selection_matrix(width, heads, i) for i in range(heads)]
    for i, selection in enumerate(selections):
        assert selection.shape == (width, width // heads)
        assert set(np.unique(selection)) <= {0.0, 1.0} and (selection.sum(0) == 1).all()
        assert np.array_equal(x @ selection, split_np[:, i])
    # the heads partition the coordinates: sum_i S_i S_i^T = I, S_i^T S_j = 0 for i != j
    assert np.array_equal(sum(s @ s.T for s in selections), np.eye(width, dtype=np.float32))
    if heads > 1:
        assert not (selections[0].T @ selections[1]).any()


def test_merge_heads_inverts_split_heads():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 12)).astype(np.float32)  # (B, N, D)
    assert np.array_equal(mm.merge_heads(mm.split_heads(x, 4)), x)
    assert np.array_equal(mm.merge_heads(mm.split_heads(tensor(x), 4)).asnumpy(), x)
    y = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)  # (B, h, N, d_h)
    assert np.array_equal(mm.split_heads(mm.merge_heads(y), 4), y)
    assert np.array_equal(mm.split_heads(mm.merge_heads(tensor(y)), 4).asnumpy(), y)


def test_per_head_weights_are_column_blocks():
    w = np.random.default_rng(2).standard_normal((6, 12)).astype(np.float32)
    blocks = mm.per_head_weights(w, 3)
    assert len(blocks) == 3
    for i, block in enumerate(blocks):
        assert np.array_equal(block, w @ mm.head_selection_matrix(12, 3, i))


def _inputs(rng, kdim, vdim, batch=2, q_len=4, k_len=6, embed_dim=12):
    query = tensor(rng.standard_normal((batch, q_len, embed_dim)))
    if kdim is None:
        return query, None, None
    return query, tensor(rng.standard_normal((batch, k_len, kdim))), tensor(rng.standard_normal((batch, k_len, vdim)))


def _assert_same_attention(a, b, query, key, value, masks):
    out_a, weights_a = a(query, key, value, **masks)
    out_b, weights_b = b(query, key, value, **masks)
    np.testing.assert_allclose(out_a.asnumpy(), out_b.asnumpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(weights_a.asnumpy(), weights_b.asnumpy(), rtol=0, atol=2e-6)


PER_HEAD_CASES = {
    "self_bias": (None, None, True, None),
    "self_no_bias_causal": (None, None, False, "causal"),
    "cross_bias_per_head_mask": (5, 7, True, "per_head"),
    "cross_no_bias": (5, 7, False, None),
}


def _mask(kind, rng, q_len):
    """The masks as keyword arguments (torch's conventions)."""
    if kind == "causal":
        return {"is_causal": True}
    if kind == "per_head":
        blocked = rng.random((2, 3, q_len, 6)) < 0.5  # (B, h, Nq, Nk): a different mask per head
        blocked[..., 0] = False
        padding = np.arange(6)[None, :] >= np.array([6, 4])[:, None]  # (B, Nk)
        return {"attn_mask": as_bool(blocked), "key_padding_mask": as_bool(padding)}
    return {}


@pytest.mark.parametrize("case", list(PER_HEAD_CASES))
def test_per_head_from_fused_is_lossless(case):
    kdim, vdim, bias, mask_kind = PER_HEAD_CASES[case]
    rng = np.random.default_rng(3)
    fused = mm.MultiHeadAttention(12, 3, kdim=kdim, vdim=vdim, bias=bias)
    fused.set_projection_matrices(random_projections(12, kdim or 12, vdim or 12, bias, 4))
    per_head = mm.PerHeadAttention.from_fused(fused)
    matrices, per_head_matrices = fused.projection_matrices(), per_head.projection_matrices()
    for name, value in matrices.items():
        assert (value is None and per_head_matrices[name] is None) or np.array_equal(value, per_head_matrices[name])
    for i, head in enumerate(per_head.heads):  # W_i^Q = W^Q S_i, etc.
        selection = mm.head_selection_matrix(12, 3, i)
        for name in ("q", "k", "v"):
            assert np.array_equal(getattr(head, f"w_{name}").asnumpy(), matrices[f"W_{name}"] @ selection)
    query, key, value = _inputs(rng, kdim, vdim)
    q_len = query.shape[1]
    _assert_same_attention(fused, per_head, query, key, value, _mask(mask_kind, rng, q_len))


@pytest.mark.parametrize("case", list(PER_HEAD_CASES))
def test_per_head_to_fused_is_lossless(case):
    kdim, vdim, bias, mask_kind = PER_HEAD_CASES[case]
    rng = np.random.default_rng(5)
    per_head = mm.PerHeadAttention(12, 3, kdim=kdim, vdim=vdim, bias=bias)
    per_head.set_projection_matrices(random_projections(12, kdim or 12, vdim or 12, bias, 6))
    fused = per_head.to_fused()
    assert isinstance(fused, mm.MultiHeadAttention)
    for name, value in per_head.projection_matrices().items():
        other = fused.projection_matrices()[name]
        assert (value is None and other is None) or np.array_equal(value, other)
    query, key, value = _inputs(rng, kdim, vdim)
    _assert_same_attention(fused, per_head, query, key, value, _mask(mask_kind, rng, query.shape[1]))
    back = mm.PerHeadAttention.from_fused(fused)  # and back again, still the same numbers
    for name, value in per_head.projection_matrices().items():
        other = back.projection_matrices()[name]
        assert (value is None and other is None) or np.array_equal(value, other)


MINDSPORE_CASES = {
    # name: (bias, mask kind)
    "bias_no_mask": (True, None),
    "bias_causal": (True, "causal"),
    "no_bias_padding": (False, "padding"),
}


@pytest.mark.parametrize("case", list(MINDSPORE_CASES))
def test_parity_with_mindspore_multihead_attention(case):
    bias, mask_kind = MINDSPORE_CASES[case]
    rng = np.random.default_rng(7)
    mha = mm.MultiHeadAttention(12, 3, bias=bias)
    mha.set_projection_matrices(random_projections(12, 12, 12, bias, 8))
    theirs = mha.to_mindspore()
    x = tensor(rng.standard_normal((2, 5, 12)))
    options = {}  # the same masks for both modules: MindSpore's follow PyTorch's conventions too
    if mask_kind == "causal":
        options["attn_mask"] = ~mm.causal_mask(5)  # True = may NOT attend
    elif mask_kind == "padding":
        options["key_padding_mask"] = mm.key_padding_mask([5, 3], 5)  # (B, N), True = padding
    out, weights = mha(x, **options)
    their_out, their_mean = theirs(x, x, x, **options)  # weights averaged over heads by default
    np.testing.assert_allclose(out.asnumpy(), their_out.asnumpy(), rtol=0, atol=1e-5)
    _, our_mean = mha(x, average_attn_weights=True, **options)
    np.testing.assert_allclose(our_mean.asnumpy(), their_mean.asnumpy(), rtol=0, atol=1e-6)
    _, their_heads = theirs(x, x, x, average_attn_weights=False, **options)
    np.testing.assert_allclose(weights.asnumpy(), their_heads.asnumpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_both_modules_take_need_weights_and_average_attn_weights(cls):
    module = cls(12, 3)
    x = tensor(np.random.default_rng(9).standard_normal((2, 4, 12)))
    out, weights = module(x)
    out_none, none = module(x, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out_none.asnumpy(), out.asnumpy(), rtol=0, atol=1e-6)
    _, averaged = module(x, average_attn_weights=True)
    assert averaged.shape == (2, 4, 4)
    np.testing.assert_allclose(averaged.asnumpy(), weights.asnumpy().mean(1), rtol=0, atol=1e-6)
