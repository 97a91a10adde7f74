"""Bad input raises by the package's one rule (mhsa_ms/_checks.py): a wrong type raises TypeError,
a right type with a wrong value ValueError, and the message names the argument, the value and
what was expected.  Masks that could be read two ways are refused, saying which argument expects what.
"""
import ast
import builtins
import pathlib
import pkgutil
import re
import sys
import types

import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import as_bool, tensor

PACKAGE = pathlib.Path(mm.__file__).resolve().parent


def _x(*shape):
    return tensor(np.zeros(shape))


# --- the rule, walked over the public API -------------------------------------------------------

def _vit(**overrides):
    return mm.VisionTransformer(**{**mm.VIT_PRESETS["digits"], "depth": 1, **overrides})


def _mha_call(**kwargs):
    return mm.MultiHeadAttention(8, 2)(_x(2, 3, 8), **kwargs)


def _train_step(**overrides):
    model = mindspore.nn.Dense(2, 2)
    arguments = {"model": model, "loss_fn": mm.cross_entropy,
                 "optimizer": mm.make_optimizer(model, lr=0.1, total_steps=2), **overrides}
    return mm.make_train_step(**arguments)


# family: (build taking the argument as keyword, argument, a value of a wrong type, a wrong value of the right type)
API = {
    "positive int": (lambda v: mm.MultiHeadAttention(8, v), "num_heads", 2.0, 0),
    "positive int (layer)": (lambda v: mm.EncoderLayer(v, 2), "embed_dim", "8", -8),
    "positive int (ViT)": (lambda v: _vit(depth=v), "depth", None, 0),
    "positive int (function)": (lambda v: mm.causal_mask(v), "num_tokens", 2.5, 0),
    "positive int (data)": (lambda v: mm.reverse_task(v, 4, 5), "num_samples", "3", 0),
    "positive int (training)": (lambda v: mm.warmup_cosine_schedule(0.1, v), "total_steps", 5.0, 0),
    "positive int (train step shards)": (lambda v: _train_step(shards=v), "shards", 2.0, 0),
    "positive int (memory probe)": (lambda v: mm.attention_peak_memory(v, 64, 4), "num_tokens", 256.0, 0),
    "bounded int": (lambda v: mm.head_selection_matrix(4, 2, v), "head", 1.0, 2),
    "bounded int (data)": (lambda v: next(mm.iterate_batches((np.zeros(4),), 2, rank=v, world_size=2)),
                           "rank", "0", 2),
    "seed": (lambda v: mm.seed_everything(v), "seed", 1.5, -1),
    "seed (data)": (lambda v: mm.reverse_task(2, 4, 5, seed=v), "seed", True, -3),
    "probability": (lambda v: mm.MultiHeadAttention(8, 2, dropout=v), "dropout", "0.1", 1.0),
    "probability (ViT)": (lambda v: _vit(attn_drop=v), "attn_drop", [0.1], 1.5),
    "probability (stochastic depth)": (lambda v: _vit(drop_path=v), "drop_path", None, -0.1),
    "probability (proj_drop)": (lambda v: mm.EncoderLayer(8, 2, proj_drop=v), "proj_drop", "0", 1.0),
    "positive number": (lambda v: _vit(layer_norm_eps=v), "layer_norm_eps", "1e-6", 0.0),
    "positive number (mlp_ratio)": (lambda v: mm.EncoderLayer(8, 2, mlp_ratio=v), "mlp_ratio", "4", -1.0),
    "number in range": (lambda v: mm.load_digits(test_fraction=v), "test_fraction", "0.2", 1.0),
    "number (training)": (lambda v: mm.warmup_cosine_schedule(v, 5), "lr", None, 0.0),
    "number in range (rollout)": (lambda v: mm.attention_rollout([np.ones((1, 1, 2, 2)) / 2], v),
                                  "residual_weight", "0.5", 1.5),
    "sequence (rollout)": (lambda v: mm.attention_rollout(v), "attention", np.ones((1, 1, 2, 2)), []),
    "bool": (lambda v: mm.MultiHeadAttention(8, 2, bias=v), "bias", 1, None),
    "bool (qkv_bias)": (lambda v: _vit(qkv_bias=v), "qkv_bias", "no", None),
    "bool (norm_first)": (lambda v: mm.EncoderLayer(8, 2, norm_first=v), "norm_first", 0, None),
    "bool (call)": (lambda v: _mha_call(need_weights=v), "need_weights", "yes", None),
    "bool (is_causal)": (lambda v: _mha_call(is_causal=v), "is_causal", 1, None),
    "bool (average_attn_weights)": (lambda v: _mha_call(average_attn_weights=v), "average_attn_weights", "no",
                                    None),
    "bool (return_attention)": (lambda v: _vit()(_x(1, 1, 8, 8), return_attention=v), "return_attention", 1, None),
    "bool (plot)": (lambda v: mm.plot_attention(np.ones((2, 2)), annotate=v), "annotate", "yes", None),
    "choice": (lambda v: mm.FeedForward(8, 16, activation=v), "activation", 1, "tanh"),
    "choice (global_pool)": (lambda v: _vit(global_pool=v), "global_pool", None, "max"),
    "choice (positions)": (lambda v: mm.TokenEncoder(5, 4, 8, 1, 2, positions=v), "positions", 0, "rotary"),
    "choice (jit_level)": (lambda v: mm.jit_compile(mm.FeedForward(8, 16), jit_level=v), "jit_level", 0, "O3"),
    "choice (preset)": (lambda v: mm.VisionTransformer.from_preset(v), "name", 16, "vit_x_16"),
    "choice (device)": (lambda v: mm.use_device(v), "target", 0, "TPU"),
    "choice (day)": (lambda v: mm.checkin(v, name="Ana"), "day", "1", 42),
    "int or pair": (lambda v: _vit(image_size=v), "image_size", "8", (8, 0)),
    "int or pair (patch)": (lambda v: mm.PatchEmbedding(8, v, 1, 4), "patch_size", 4.0, (4, 4, 4)),
    "int sequence": (lambda v: mm.padding_mask(v, 4), "lengths", [1.5, 2.0], [5]),
    "int sequence (padding)": (lambda v: mm.key_padding_mask(v, 4), "lengths", ["a"], [-1]),
    "text": (lambda v: mm.checkin(1, name=v), "name", 3, " "),
    "pattern": (lambda v: mm.check_exercise(v, print), "exercise_id", 1.2, "one"),
    "callable (exercise)": (lambda v: mm.check_exercise("1.1", v), "answer", "scaled_scores", None),
    "callable": (lambda v: _train_step(loss_fn=v), "loss_fn", "cross_entropy", None),
    "instance": (lambda v: _train_step(optimizer=v), "optimizer", "adam", None),
    "instance (converter)": (lambda v: mm.PerHeadAttention.from_fused(v), "mha", mm.EncoderLayer(8, 2), None),
    "instance (timm)": (lambda v: mm.load_timm_weights(v, {}), "model", mm.EncoderLayer(8, 2), None),
    "instance (weights)": (lambda v: mm.MultiHeadAttention(8, 2).set_projection_matrices(v), "matrices", [], {}),
    "mask dtype and shape": (lambda v: _mha_call(attn_mask=v), "attn_mask", tensor(np.ones((3, 3))).astype(
        mindspore.int32), as_bool(np.zeros((3, 4)))),
    "padding mask dtype and shape": (lambda v: _mha_call(key_padding_mask=v), "key_padding_mask",
                                     mindspore.Tensor(np.zeros((2, 3), np.int32)), as_bool(np.zeros((2, 1, 3)))),
}


@pytest.mark.parametrize("family", list(API))
def test_wrong_type_raises_type_error_naming_the_argument(family):
    build, name, wrong_type, _ = API[family]
    with pytest.raises(TypeError) as error:
        build(wrong_type)
    assert re.search(rf"\b{re.escape(name)}\b", str(error.value)), str(error.value)
    assert "got" in str(error.value)


@pytest.mark.parametrize("family", [family for family, spec in API.items() if spec[3] is not None])
def test_wrong_value_raises_value_error_naming_the_argument(family):
    build, name, _, wrong_value = API[family]
    with pytest.raises(ValueError) as error:
        build(wrong_value)
    message = str(error.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), message
    assert "must" in message or "missing" in message, message


def _raises_outside_checks():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_checks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(call, ast.Name) and call.id in ("TypeError", "ValueError"):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_argument_checks_live_in_checks_only():
    """Every TypeError and ValueError of the package is raised by a check in mhsa_ms/_checks.py."""
    assert _raises_outside_checks() == []


def test_no_public_name_shadows_a_builtin_or_a_module():
    submodules = {info.name.rsplit(".", 1)[-1] for info in pkgutil.walk_packages(mm.__path__, "mhsa_ms.")}
    for name in dir(mm):
        if name.startswith("_"):
            continue
        value = getattr(mm, name)
        assert name not in dir(builtins), f"mm.{name} shadows the builtin {name}"
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"mhsa_ms.{name}", f"mm.{name} is the foreign module {value.__name__}"
        else:
            assert name not in submodules, f"mm.{name} shadows the module mhsa_ms...{name}"
            assert name not in sys.stdlib_module_names, f"mm.{name} shadows the standard module {name}"
    assert set(mm.__all__) <= set(dir(mm))


# --- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_embed_dim_not_divisible_by_num_heads(cls):
    with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=3"):
        cls(10, 3)


def test_embed_dim_not_divisible_in_layers():
    for build in (lambda: mm.EncoderLayer(10, 4), lambda: mm.DecoderLayer(10, 4),
                  lambda: mm.VisionTransformer(4, 2, 1, 3, 10, 1, 4)):
        with pytest.raises(ValueError, match=r"embed_dim=10 must be divisible by num_heads=4"):
            build()


def test_num_heads_and_embed_dim_not_int():
    with pytest.raises(TypeError, match=r"num_heads must be an int, got float 2.0"):
        mm.MultiHeadAttention(8, 2.0)
    with pytest.raises(TypeError, match=r"embed_dim must be an int, got str '8'"):
        mm.MultiHeadAttention("8", 2)
    with pytest.raises(ValueError, match=r"num_heads must be a positive int, got -2"):
        mm.EncoderLayer(8, -2)


@pytest.mark.parametrize("dropout", [1.0, -0.1, 1.5])
def test_dropout_outside_unit_interval(dropout):
    for name, build in (("dropout", lambda: mm.MultiHeadAttention(8, 2, dropout=dropout)),
                        ("dropout", lambda: mm.PerHeadAttention(8, 2, dropout=dropout)),
                        ("dropout", lambda: mm.FeedForward(8, 16, dropout=dropout)),
                        ("dropout", lambda: mm.EncoderLayer(8, 2, dropout=dropout)),
                        ("dropout", lambda: mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2, dropout=dropout)),
                        ("pos_drop", lambda: mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2, pos_drop=dropout)),
                        ("attn_drop", lambda: mm.EncoderLayer(8, 2, attn_drop=dropout)),
                        ("drop_path", lambda: mm.EncoderLayer(8, 2, drop_path=dropout))):
        with pytest.raises(ValueError, match=rf"{name} must be in \[0, 1\), got {dropout}"):
            build()
    with pytest.raises(ValueError, match=rf"dropout_p must be in \[0, 1\), got {dropout}"):
        mm.scaled_dot_product_attention(_x(1, 2, 4), _x(1, 2, 4), _x(1, 2, 4), dropout_p=dropout)


def test_vision_transformer_knobs():
    with pytest.raises(ValueError, match=r"global_pool must be one of \('token', 'avg'\), got 'max'"):
        mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2, global_pool="max")
    with pytest.raises(ValueError, match=r"layer_norm_eps must be a number > 0.0, got -1e-06"):
        mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2, layer_norm_eps=-1e-6)
    with pytest.raises(ValueError, match=r"image_size must hold positive ints, got \(8, 0\)"):
        mm.VisionTransformer((8, 0), 2, 1, 3, 8, 1, 2)
    with pytest.raises(ValueError, match=r"patch_size must be an int or a pair \(height, width\) of ints, "
                                         r"got \(2, 2, 2\)"):
        mm.VisionTransformer(8, (2, 2, 2), 1, 3, 8, 1, 2)
    with pytest.raises(ValueError, match=r"name must be one of \('digits', 'vit_ti_16'"):
        mm.VisionTransformer.from_preset("vit_g_14")


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


def test_attention_batch_sizes_and_lengths_differ():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query, key and value must have the same batch size B, got 2, 3, 3"):
        mha(_x(2, 3, 8), _x(3, 4, 8), _x(3, 4, 8))
    with pytest.raises(ValueError, match=r"key and value must have the same number of tokens Nk, got 4, 5"):
        mha(_x(2, 3, 8), _x(2, 4, 8), _x(2, 5, 8))
    with pytest.raises(ValueError, match=r"v dimension -2 must equal k's Nk=4, got shape \(2, 5, 8\)"):
        mm.scaled_dot_product_attention(_x(2, 3, 8), _x(2, 4, 8), _x(2, 5, 8))


def test_input_dtypes():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match=r"query must be a floating-point tensor, got dtype Int32"):
        mha(mindspore.Tensor(np.zeros((2, 3, 8), np.int32)))
    half = _x(2, 3, 8).astype(mindspore.float16)
    with pytest.raises(ValueError, match=r"query, key and value must have the same dtype, got Float16, Float32"):
        mha(half, _x(2, 3, 8), _x(2, 3, 8))


@pytest.mark.skipif(mindspore.get_context("device_target") != "CPU",
                    reason="bfloat16 is refused on CPU only, where MindSpore has no bfloat16 MatMul kernel")
@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_bfloat16_refused_on_cpu_with_a_clear_error(cls):
    bf16 = _x(2, 3, 8).astype(mindspore.bfloat16)
    with pytest.raises(TypeError, match=r"query has dtype BFloat16, which this device's kernels do not compute "
                                        r"attention in; use one of Float32, Float16, Float64"):
        cls(8, 2)(bf16)
    with pytest.raises(TypeError, match=r"q has dtype BFloat16"):
        mm.scaled_dot_product_attention(bf16, bf16, bf16)


# --- masks: torch's conventions, nothing read two ways ------------------------------------------

@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_masks_of_the_wrong_dtype(cls):
    module = cls(8, 2)
    integers = mindspore.Tensor(np.zeros((3, 3), np.int32))
    with pytest.raises(TypeError, match=r"attn_mask must be a boolean tensor \(True = not allowed to attend, as in "
                                        r"torch\) or a floating-point tensor \(added to the attention scores\), "
                                        r"got dtype Int32"):
        module(_x(2, 3, 8), attn_mask=integers)
    with pytest.raises(TypeError, match=r"key_padding_mask must be a boolean tensor \(True = padding"):
        module(_x(2, 3, 8), key_padding_mask=mindspore.Tensor(np.zeros((2, 3), np.int32)))


@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_padding_mask_as_attn_mask_is_refused_when_batch_equals_queries(cls):
    """B = Nq: a (B, Nk) padding mask has the shape of an (Nq, Nk) attn_mask; refused, never misread."""
    module = cls(8, 2)
    query, memory = _x(4, 4, 8), _x(4, 6, 8)  # B = Nq = 4, Nk = 6
    padding = mm.key_padding_mask([6, 5, 4, 3], 6)  # (B, Nk)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 6\) is ambiguous because B = Nq = 4: .* "
                                         r"pass padding as key_padding_mask \(B, Nk\), a query-key mask as "
                                         r"attn_mask\[None, None\] \(1, 1, Nq, Nk\), or is_causal=True"):
        module(query, memory, memory, attn_mask=padding)
    out, _ = module(query, memory, memory, key_padding_mask=padding)  # the argument that means it works
    assert out.shape == (4, 4, 8)
    square = ~mm.causal_mask(4)
    with pytest.raises(ValueError, match=r"ambiguous because B = Nq = 4"):
        module(query, attn_mask=square)
    out, weights = module(query, attn_mask=square[None, None])  # the unambiguous 4-D form
    assert not np.triu(weights.asnumpy(), 1).any()


def test_padding_mask_as_attn_mask_names_key_padding_mask():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"attn_mask must be \(Nq, Nk\) = \(3, 5\), \(B·h, Nq, Nk\) = \(4, 3, 5\) or "
                                         r"\(B, h, Nq, Nk\) = \(2, 2, 3, 5\) with axes of size 1 broadcasting; got "
                                         r"shape \(2, 5\); a \(B, Nk\) padding mask goes to key_padding_mask"):
        mha(_x(2, 3, 8), _x(2, 5, 8), _x(2, 5, 8), attn_mask=mm.key_padding_mask([5, 2], 5))


def test_per_sample_attn_mask_must_say_its_head_axis():
    mha = mm.MultiHeadAttention(8, 2)  # B = 2, h = 2: (B, Nq, Nk) is not torch's (B·h, Nq, Nk)
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 3\); one mask per sample \(B, Nq, Nk\) is "
                                         r"attn_mask\[:, None\] \(B, 1, Nq, Nk\)"):
        mha(_x(2, 3, 8), attn_mask=as_bool(np.zeros((2, 3, 3))))


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 3, 3), (1, 1, 1, 3, 3), (3, 2, 3, 3)])
def test_attn_mask_of_no_accepted_shape(shape):
    with pytest.raises(ValueError, match=rf"attn_mask must be \(Nq, Nk\) = \(3, 3\).*got shape {re.escape(str(shape))}"):
        _mha_call(attn_mask=as_bool(np.zeros(shape)))


def test_lessons_padding_mask_as_key_padding_mask_names_the_helper():
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Nk\) = \(2, 3\) \(True = padding, "
                                         r"as in torch\), got \(2, 1, 3\): mm.padding_mask gives the lessons' "
                                         r"\(B, 1, Nk\) may-attend mask; use mm.key_padding_mask\(lengths, Nk\)"):
        _mha_call(key_padding_mask=mm.padding_mask([3, 1], 3))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Nk\) = \(2, 3\)"):
        _mha_call(key_padding_mask=as_bool(np.zeros((3, 3))))


def test_the_lessons_may_attend_mask_is_no_module_argument():
    # mm.MultiHeadAttention takes torch's masks only; the lessons' may-attend masks translate as
    # key_padding_mask=mm.key_padding_mask(lengths, Nk) and is_causal=True (mhsa_ms/model/masks.py)
    with pytest.raises(TypeError, match=r"mask"):
        _mha_call(mask=mm.causal_mask(3))
    with pytest.raises(TypeError, match=r"mask"):
        mm.PerHeadAttention(8, 2)(_x(2, 3, 8), mask=mm.causal_mask(3))


def test_layers_pass_their_masks_through_the_same_checks():
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 2\) is ambiguous because B = Nq = 2"):
        mm.EncoderLayer(8, 2)(_x(2, 2, 8), src_mask=as_bool(np.zeros((2, 2))))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Nk\) = \(2, 5\)"):
        mm.DecoderLayer(8, 2)(_x(2, 3, 8), _x(2, 5, 8), memory_key_padding_mask=mm.padding_mask([5, 2], 5))
    with pytest.raises(TypeError, match=r"is_causal must be a bool, got str 'yes'"):
        mm.DecoderLayer(8, 2)(_x(2, 3, 8), _x(2, 5, 8), tgt_is_causal="yes")
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Nk\) = \(2, 4\)"):
        mm.TokenEncoder(5, 4, 8, 1, 2)(mindspore.Tensor(np.zeros((2, 4), np.int32)),
                                       key_padding_mask=as_bool(np.zeros((2, 5))))


def test_sdpa_bad_inputs():
    q = _x(2, 3, 4)
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor \(True = may attend\)"):
        mm.scaled_dot_product_attention(q, q, q, tensor(np.ones((3, 3))))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 3\) is not broadcastable to \(\.\.\., Nq, Nk\)"):
        mm.scaled_dot_product_attention(q, q, q, as_bool(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"q, k and v must have the same rank \(number of dimensions\), got 3, 2, 3"):
        mm.scaled_dot_product_attention(q, _x(3, 4), q)
    with pytest.raises(ValueError, match=r"k last dimension must equal q's d_k=4, got shape \(2, 3, 5\)"):
        mm.scaled_dot_product_attention(q, _x(2, 3, 5), q)


def test_errors_are_raised_under_jit_too():
    mha = mm.MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query last dimension must equal embed_dim=8"):
        mindspore.jit(mha.construct)(_x(2, 3, 6))
    with pytest.raises(TypeError, match=r"attn_mask must be a boolean tensor"):
        mindspore.jit(mha.construct)(_x(2, 3, 8), None, None, None, True,
                                     mindspore.Tensor(np.zeros((3, 3), np.int32)))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 2\) is ambiguous"):
        mindspore.jit(mha.construct)(_x(2, 2, 8), None, None, None, True, as_bool(np.zeros((2, 2))))


def test_layers_input_rank():
    with pytest.raises(ValueError, match=r"tgt must be 3-D \(B, Nq, D\), got shape \(3, 8\)"):
        mm.DecoderLayer(8, 2)(_x(3, 8), _x(2, 3, 8))
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, N, D\), got shape \(3, 6\)"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(3, 6))
    with pytest.raises(ValueError, match=r"x last dimension must equal dim=6, got shape \(2, 3, 4\)"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(2, 3, 4))
    with pytest.raises(ValueError, match=r"x tokens N=9 must be at most max_tokens=8"):
        mm.SinusoidalPositionalEncoding(8, 6)(_x(1, 9, 6))
    with pytest.raises(ValueError, match=r"x must have shape \(B, num_tokens, dim\) = \(2, 4, 6\), got \(2, 5, 6\)"):
        mm.LearnedPositionalEmbedding(4, 6)(_x(2, 5, 6))
    with pytest.raises(ValueError, match=r"dim=5 must be divisible by 2 \(sin/cos pairs\)=2"):
        mm.sinusoidal_positional_encoding(4, 5)


# --- images -------------------------------------------------------------------------------

def test_image_size_not_divisible_by_patch_size():
    with pytest.raises(ValueError, match=r"image_size=10 must be divisible by patch_size=3"):
        mm.PatchEmbedding(10, 3, 1, 8)
    with pytest.raises(ValueError, match=r"image_size=10 must be divisible by patch_size=4"):
        mm.VisionTransformer((8, 10), 4, 1, 3, 8, 1, 2)


def test_image_inputs():
    embed = mm.PatchEmbedding(8, 2, 3, 16)
    with pytest.raises(ValueError, match=r"images dimension 1 must equal in_channels=3, got shape \(2, 1, 8, 8\)"):
        embed(_x(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"images dimension 2 must equal image height=8, got shape \(2, 3, 6, 8\)"):
        embed(_x(2, 3, 6, 8))
    with pytest.raises(ValueError, match=r"images dimension 3 must equal image width=12, got shape \(2, 3, 8, 8\)"):
        mm.PatchEmbedding((8, 12), 4, 3, 16)(_x(2, 3, 8, 8))
    vit = mm.VisionTransformer(4, 2, 1, 3, 8, 1, 2)
    with pytest.raises(ValueError, match=r"images must be 4-D \(B, C, H, W\), got shape \(1, 4, 4\)"):
        vit(_x(1, 4, 4))


# --- heads --------------------------------------------------------------------------------

def test_split_heads_width_not_divisible():
    with pytest.raises(ValueError, match=r"x last dimension D=10 must be divisible by num_heads=3"):
        mm.split_heads(_x(2, 3, 10), 3)
    with pytest.raises(ValueError, match=r"x must be 3-D \(B, N, D\), got shape \(3, 10\)"):
        mm.split_heads(np.zeros((3, 10)), 2)
    with pytest.raises(ValueError, match=r"x must be 4-D \(B, h, N, d_h\), got shape \(2, 3, 4\)"):
        mm.merge_heads(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("head", [2, 5, -1])
def test_head_selection_matrix_head_out_of_range(head):
    with pytest.raises(ValueError, match=rf"head must be an int in \[0, num_heads=2\), got {head}"):
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
    with pytest.raises(ValueError, match=r"matrices\['b_q'\] given but the module was built without that bias"):
        no_bias.set_projection_matrices(good)
    with pytest.raises(TypeError, match=r"mha must be a MultiHeadAttention, got EncoderLayer"):
        mm.PerHeadAttention.from_fused(mm.EncoderLayer(8, 2))
    with pytest.raises(ValueError, match=r"to_mindspore\(\) needs kdim == vdim == embed_dim"):
        mm.MultiHeadAttention(8, 2, kdim=4).to_mindspore()
    with pytest.raises(ValueError, match=r"to_mindspore\(\) needs qkv_bias == bias"):
        mm.MultiHeadAttention(8, 2, qkv_bias=False).to_mindspore()


# --- device -------------------------------------------------------------------------------

def test_use_device_unavailable_target_names_the_available_ones():
    available = mm.available_backends()
    missing = [name for name in ("Ascend", "GPU") if name not in available]
    assert missing, "a MindSpore install supports Ascend or GPU, never both"
    with pytest.raises(RuntimeError, match=rf"device '{missing[0]}' is not available.*available: "
                                           rf"{', '.join(available)}"):
        mm.use_device(missing[0])


@pytest.mark.parametrize("target, error", [("TPU", ValueError), ("", ValueError), (0, TypeError)])
def test_use_device_bad_target(target, error):
    with pytest.raises(error, match=r"target must be one of \('auto', 'Ascend', 'GPU', 'CPU'\) \(any case\), got"):
        mm.use_device(target)


def test_use_device_same_target_again_is_fine():
    chosen = mm.use_device()
    assert mm.use_device(chosen.lower()) == chosen


def test_seed_and_mask_helpers_bad_input():
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, got -1"):
        mm.seed_everything(-1)
    with pytest.raises(TypeError, match=r"seed must be an int, got bool True"):
        mm.seed_everything(True)
    with pytest.raises(ValueError, match=r"num_tokens must be a positive int, got 0"):
        mm.causal_mask(0)
    with pytest.raises(TypeError, match=r"num_tokens must be an int, got float 3.0"):
        mm.causal_mask(3.0)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, num_tokens=3\], got \[4\]"):
        mm.padding_mask([4], 3)
