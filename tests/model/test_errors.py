"""Bad input raises ValueError/TypeError whose message names the argument, the value and
what was expected (issue 2, "Errors")."""
import re

import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import as_bool, tensor


def _x(*shape):
    return tensor(np.zeros(shape))


# --- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_embed_dim_not_divisible_by_num_heads(cls):
    with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=3"):
        cls(10, 3)


def test_embed_dim_not_divisible_in_layers():
    with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=4"):
        mm.EncoderLayer(10, 4)
    with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=4"):
        mm.DecoderLayer(10, 4)
    with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=4"):
        mm.VisionTransformer(4, 2, 1, 3, 10, 1, 4)


@pytest.mark.parametrize("num_heads", [0, -2])
def test_num_heads_not_positive(num_heads):
    with pytest.raises(ValueError, match=rf"num_heads must be a positive int, got {num_heads}"):
        mm.MultiHeadAttention(8, num_heads)
    with pytest.raises(ValueError, match=rf"num_heads must be a positive int, got {num_heads}"):
        mm.EncoderLayer(8, num_heads)


def test_num_heads_and_embed_dim_not_int():
    with pytest.raises(TypeError, match=r"num_heads must be an int, got float 2.0"):
        mm.MultiHeadAttention(8, 2.0)
    with pytest.raises(TypeError, match=r"embed_dim must be an int, got str '8'"):
        mm.MultiHeadAttention("8", 2)


@pytest.mark.parametrize("dropout", [1.0, -0.1, 1.5])
def test_dropout_outside_unit_interval(dropout):
    for build in (lambda: mm.MultiHeadAttention(8, 2, dropout=dropout),
                  lambda: mm.PerHeadAttention(8, 2, dropout=dropout),
                  lambda: mm.FeedForward(8, 16, dropout=dropout),
                  lambda: mm.EncoderLayer(8, 2, dropout=dropout),
                  lambda: mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2, dropout=dropout)):
        with pytest.raises(ValueError, match=rf"dropout must be in \[0, 1\), got {dropout}"):
            build()
    with pytest.raises(ValueError, match=rf"dropout_p must be in \[0, 1\), got {dropout}"):
        mm.scaled_dot_product_attention(_x(1, 2, 4), _x(1, 2, 4), _x(1, 2, 4), dropout_p=dropout)


def test_dropout_not_a_number():
    with pytest.raises(TypeError, match=r"dropout must be a float in \[0, 1\), got str '0.1'"):
        mm.MultiHeadAttention(8, 2, dropout="0.1")


# --- inputs of the attention modules ------------------------------------------------------

@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_attention_input_rank(cls):
    module = cls(8, 2)
    with pytest.raises(ValueError, match=r"query must be 3-D \(B, Nq, D\), got shape \(3, 8\) \(2-D\)"):
        module(_x(3, 8))
    with pytest.raises(ValueError, match=r"key must be 3-D \(B, Nk, kdim\), got shape \(1, 2, 3, 8\)"):
        module(_x(2, 3, 8), _x(1, 2, 3, 8), _x(2, 3, 8))
    with pytest.raises(ValueError, match=r"value must be 3-D \(B, Nk, vdim\), got shape \(3, 8\)"):
        module(_x(2, 3, 8), _x(2, 3, 8), _x(3, 8))


@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_attention_last_dimension(cls):
    module = cls(8, 2, kdim=6, vdim=5)
    query, key, value = _x(2, 3, 8), _x(2, 4, 6), _x(2, 4, 5)
    module(query, key, value)  # the right widths work
    with pytest.raises(ValueError, match=r"query last dimension must equal embed_dim=8, got shape \(2, 3, 7\)"):
        module(_x(2, 3, 7), key, value)
    with pytest.raises(ValueError, match=r"key last dimension must equal kdim=6, got shape \(2, 4, 8\)"):
        module(query, _x(2, 4, 8), value)
    with pytest.raises(ValueError, match=r"value last dimension must equal vdim=5, got shape \(2, 4, 6\)"):
        module(query, key, _x(2, 4, 6))


def test_attention_batch_sizes_differ():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query, key and value must have the same batch size B, "
                                         r"got shapes \(2, 3, 8\), \(3, 4, 8\), \(3, 4, 8\)"):
        mha(_x(2, 3, 8), _x(3, 4, 8), _x(3, 4, 8))


def test_key_and_value_lengths_differ():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"key and value must have the same number of tokens Nk, "
                                         r"got shapes \(2, 4, 8\) and \(2, 5, 8\)"):
        mha(_x(2, 3, 8), _x(2, 4, 8), _x(2, 5, 8))
    with pytest.raises(ValueError, match=r"v must have as many tokens as k \(Nk=4\), got v shape \(2, 5, 8\)"):
        mm.scaled_dot_product_attention(_x(2, 3, 8), _x(2, 4, 8), _x(2, 5, 8))


@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_mask_not_boolean(cls):
    module = cls(8, 2)
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor \(True = may attend\), got dtype Float32"):
        module(_x(2, 3, 8), mask=tensor(np.ones((3, 3))))


@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 3), (2, 3, 3, 3), (1, 1, 1, 3, 3)])
def test_mask_not_broadcastable(shape):
    mha = mm.MultiHeadAttention(8, 2)
    expected = rf"mask of shape {re.escape(str(shape))} is not broadcastable to \(B, h, Nq, Nk\) = \(2, 2, 3, 3\)"
    with pytest.raises(ValueError, match=expected):
        mha(_x(2, 3, 8), mask=as_bool(np.ones(shape)))


def test_sdpa_bad_inputs():
    q = _x(2, 3, 4)
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor"):
        mm.scaled_dot_product_attention(q, q, q, tensor(np.ones((3, 3))))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 3\) is not broadcastable to \(\.\.\., Nq, Nk\)"):
        mm.scaled_dot_product_attention(q, q, q, as_bool(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"q, k, v must have the same rank >= 2"):
        mm.scaled_dot_product_attention(q, _x(3, 4), q)
    with pytest.raises(ValueError, match=r"k last dimension must equal q's d_k=4, got k shape \(2, 3, 5\)"):
        mm.scaled_dot_product_attention(q, _x(2, 3, 5), q)


def test_errors_are_raised_under_jit_too():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query last dimension must equal embed_dim=8"):
        mindspore.jit(mha.construct)(_x(2, 3, 6))
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor"):
        mindspore.jit(mha.construct)(_x(2, 3, 8), None, None, tensor(np.ones((3, 3))))


def test_layers_input_rank():
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, Nq, D\), got shape \(3, 8\)"):
        mm.DecoderLayer(8, 2)(_x(3, 8), _x(2, 3, 8))
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, N, D\), got shape \(3, 6\)"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(3, 6))
    with pytest.raises(ValueError, match=r"x last dimension must equal dim=6, got shape \(2, 3, 4\)"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(2, 3, 4))
    with pytest.raises(ValueError, match=r"x has 9 tokens, more than max_tokens=8"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(1, 9, 6))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 4, 6\), got \(2, 5, 6\)"):
        mm.LearnedPositionalEmbedding(4, 6)(_x(2, 5, 6))


# --- images -------------------------------------------------------------------------------

def test_image_size_not_divisible_by_patch_size():
    with pytest.raises(ValueError, match=r"image_size=10 must be divisible by patch_size=3"):
        mm.PatchEmbedding(10, 3, 1, 8)
    with pytest.raises(ValueError, match=r"image_size=10 must be divisible by patch_size=3"):
        mm.VisionTransformer(10, 3, 1, 3, 8, 1, 2)


def test_image_inputs():
    embed = mm.PatchEmbedding(8, 2, 3, 16)
    with pytest.raises(ValueError, match=r"images must have in_channels=3 channels, got shape \(2, 1, 8, 8\)"):
        embed(_x(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"images must be 8x8, got shape \(2, 3, 6, 8\)"):
        embed(_x(2, 3, 6, 8))
    vit = mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2)
    with pytest.raises(ValueError, match=r"images must be 4-D \(B, C, H, W\), got shape \(1, 4, 4\)"):
        vit(_x(1, 4, 4))
    with pytest.raises(ValueError, match=r"images must have in_channels=1 channels, got shape \(1, 3, 4, 4\)"):
        vit(_x(1, 3, 4, 4))


# --- heads --------------------------------------------------------------------------------

def test_split_heads_width_not_divisible():
    with pytest.raises(ValueError, match=r"x last dimension D=10 must be divisible by num_heads=3"):
        mm.split_heads(_x(2, 3, 10), 3)
    with pytest.raises(ValueError, match=r"x last dimension D=10 must be divisible by num_heads=4"):
        mm.split_heads(np.zeros((2, 3, 10)), 4)
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, N, D\), got shape \(3, 10\)"):
        mm.split_heads(np.zeros((3, 10)), 2)
    with pytest.raises(ValueError, match=r"x must be 4-D \(B, h, N, d_h\), got shape \(2, 3, 4\)"):
        mm.merge_heads(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("head", [2, 5, -1])
def test_head_selection_matrix_head_out_of_range(head):
    with pytest.raises(ValueError, match=rf"head must be in \[0, num_heads=2\), got {head}"):
        mm.head_selection_matrix(4, 2, head)


def test_head_selection_matrix_bad_arguments():
    with pytest.raises(ValueError, match=r"d_model=5 must be divisible by num_heads=2"):
        mm.head_selection_matrix(5, 2, 0)
    with pytest.raises(TypeError, match=r"head must be an int, got float 1.0"):
        mm.head_selection_matrix(4, 2, 1.0)
    with pytest.raises(ValueError, match=r"w_fused columns D=6 must be divisible by num_heads=4"):
        mm.per_head_weights(np.zeros((3, 6)), 4)


# --- weights ------------------------------------------------------------------------------

def test_set_projection_matrices_bad_input():
    mha = mm.MultiHeadAttention(8, 2)
    good = mha.projection_matrices()
    with pytest.raises(TypeError, match=r"matrices must be a dict of arrays, got list"):
        mha.set_projection_matrices([])
    with pytest.raises(ValueError, match=r"matrices is missing 'W_k' of shape \(8, 8\)"):
        mha.set_projection_matrices({name: value for name, value in good.items() if name != "W_k"})
    with pytest.raises(ValueError, match=r"matrices\['W_o'\] must have shape \(8, 8\), got \(8, 4\)"):
        mha.set_projection_matrices({**good, "W_o": np.zeros((8, 4))})
    no_bias = mm.MultiHeadAttention(8, 2, bias=False)
    with pytest.raises(ValueError, match=r"matrices\['b_q'\] given but the module was built with bias=False"):
        no_bias.set_projection_matrices(good)
    with pytest.raises(TypeError, match=r"mha must be a MultiHeadAttention, got EncoderLayer"):
        mm.PerHeadAttention.from_fused(mm.EncoderLayer(8, 2))
    with pytest.raises(ValueError, match=r"to_mindspore\(\) needs kdim == vdim == embed_dim"):
        mm.MultiHeadAttention(8, 2, kdim=4).to_mindspore()


# --- device -------------------------------------------------------------------------------

def test_use_device_unavailable_target_names_the_available_ones():
    available = mm.available_backends()
    missing = [name for name in ("Ascend", "GPU") if name not in available]
    assert missing, "a MindSpore install supports Ascend or GPU, never both"
    with pytest.raises(RuntimeError, match=rf"device '{missing[0]}' is not available.*available: "
                                           rf"{', '.join(available)}"):
        mm.use_device(missing[0])


@pytest.mark.parametrize("target", ["TPU", "", 0])
def test_use_device_bad_target(target):
    with pytest.raises(ValueError, match=r"target must be 'auto', 'Ascend', 'GPU' or 'CPU', got"):
        mm.use_device(target)


def test_use_device_same_target_again_is_fine():
    chosen = mm.use_device()
    assert mm.use_device(chosen.lower()) == chosen


def test_seed_and_mask_helpers_bad_input():
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, got -1"):
        mm.seed_everything(-1)
    with pytest.raises(ValueError, match=r"num_tokens must be a positive int, got 0"):
        mm.causal_mask(0)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, num_tokens=3\], got \[4\]"):
        mm.padding_mask([4], 3)
