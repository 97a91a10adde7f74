r"""timm's ViT weights in this package's :class:`~mhsa_ms.VisionTransformer`, and back.

A timm ``VisionTransformer``'s ``state_dict()`` saved as NumPy arrays (an
``.npz`` file, so neither torch nor timm is needed here) loads with
:func:`load_timm_weights`; :func:`timm_state_dict` gives the arrays timm
loads.  docs/timm-weights.md shows the whole route, from a downloaded timm
checkpoint to logits on Ascend.

The layouts (timm stores Linear weights as torch does, y = x W^T; this
package's attention uses the paper's y = x W, so those matrices are transposed):

=====================================  =====================================================
timm                                   mhsa_ms
=====================================  =====================================================
cls_token, pos_embed                   cls_token, pos_embed
patch_embed.proj.weight / .bias        patch_embed.proj.weight / .bias   (D, C, P_h, P_w)
blocks.i.norm1.weight / .bias          layers.i.norm1.gamma / .beta       (norm2 alike)
blocks.i.attn.qkv.weight (3D, D)       layers.i.attn.w_q, w_k, w_v = the three (D, D) row blocks, transposed
blocks.i.attn.qkv.bias (3D,)           layers.i.attn.b_q, b_k, b_v        (if qkv_bias)
blocks.i.attn.proj.weight / .bias      layers.i.attn.w_o (transposed) / b_o
blocks.i.mlp.fc1 / fc2 .weight, .bias  layers.i.ffn.fc1 / fc2 .weight, .bias
norm (token pool) or fc_norm (avg)     norm.gamma / .beta
head.weight / .bias                    head.weight / .bias
=====================================  =====================================================

Variants this ViT has no place for (layer scale ``ls1.gamma``, q/k norm,
register tokens, ``norm_pre``...) are refused with their keys named, never dropped.
"""
import os

import numpy as np
from mindspore import Tensor

from .._checks import check_instance, check_shape, check_timm_keys
from .vit import VisionTransformer


def _pairs(model):
    """[(timm key, mhsa_ms parameter name, transform)] for this model's configuration.

    transform: None (same array), ("t",) (transposed), ("rows", start, stop)
    (a row block of qkv.bias) or ("rows_t", start, stop) (a row block of qkv.weight, transposed).
    """
    dim = model.pos_embed.shape[-1]
    final_norm = "fc_norm" if model.global_pool == "avg" else "norm"
    rows = [
        ("cls_token", "cls_token", None),
        ("pos_embed", "pos_embed", None),
        ("patch_embed.proj.weight", "patch_embed.proj.weight", None),
        ("patch_embed.proj.bias", "patch_embed.proj.bias", None),
        (f"{final_norm}.weight", "norm.gamma", None),
        (f"{final_norm}.bias", "norm.beta", None),
        ("head.weight", "head.weight", None),
        ("head.bias", "head.bias", None),
    ]
    for i, layer in enumerate(model.layers):
        block, ours = f"blocks.{i}", f"layers.{i}"
        for norm in ("norm1", "norm2"):
            rows.append((f"{block}.{norm}.weight", f"{ours}.{norm}.gamma", None))
            rows.append((f"{block}.{norm}.bias", f"{ours}.{norm}.beta", None))
        for j, name in enumerate("qkv"):
            rows.append((f"{block}.attn.qkv.weight", f"{ours}.attn.w_{name}", ("rows_t", j * dim, (j + 1) * dim)))
            if layer.attn.has_qkv_bias:
                rows.append((f"{block}.attn.qkv.bias", f"{ours}.attn.b_{name}", ("rows", j * dim, (j + 1) * dim)))
        rows.append((f"{block}.attn.proj.weight", f"{ours}.attn.w_o", ("t",)))
        rows.append((f"{block}.attn.proj.bias", f"{ours}.attn.b_o", None))
        for fc in ("fc1", "fc2"):
            rows.append((f"{block}.mlp.{fc}.weight", f"{ours}.ffn.{fc}.weight", None))
            rows.append((f"{block}.mlp.{fc}.bias", f"{ours}.ffn.{fc}.bias", None))
    return rows


def _from_timm(array, transform):
    if transform is None:
        return array
    if transform[0] == "t":
        return array.T
    _, start, stop = transform
    block = array[start:stop]
    return block.T if transform[0] == "rows_t" else block


def _read(source):
    """A dict of arrays from a dict or the path of an .npz file."""
    if isinstance(source, (str, os.PathLike)):
        with np.load(source) as archive:
            return {key: archive[key] for key in archive.files}
    check_instance("state_dict", source, dict, "a dict of arrays or the path of an .npz file")
    return source


def load_timm_weights(model, state_dict):
    """Load a timm ViT's weights into ``model``, a :class:`~mhsa_ms.VisionTransformer` of the same shape.

    Args:
        model: built with the timm model's configuration, e.g.
            ``mm.VisionTransformer.from_preset("vit_b_16")`` for timm's
            ``vit_base_patch16_224`` (``global_pool`` and ``qkv_bias`` must match).
        state_dict: timm's ``model.state_dict()`` as NumPy arrays: a dict, or
            the path of an ``.npz`` file written by ``numpy.savez``.

    Every key of ``state_dict`` must find its parameter and every parameter
    its key, with the right shape; anything else raises ValueError naming the keys.
    Returns ``model``.
    """
    check_instance("model", model, VisionTransformer, "a mhsa_ms.VisionTransformer")
    state = _read(state_dict)
    rows = _pairs(model)
    check_timm_keys(set(state), {timm_key for timm_key, _, _ in rows})
    params = {param.name: param for param in model.get_parameters()}
    for timm_key, name, transform in rows:
        array = _from_timm(np.asarray(state[timm_key]), transform)
        target = params[name]
        check_shape(f"state_dict[{timm_key!r}] (for {name})", array.shape, tuple(target.shape), "of this model")
        target.set_data(Tensor(np.ascontiguousarray(array, dtype=np.float32)))
    return model


def timm_state_dict(model):
    """``model``'s weights as timm's ViT ``state_dict`` of float32 NumPy arrays (the inverse of :func:`load_timm_weights`).

    Save it with ``numpy.savez(path, **arrays)``; in a torch environment
    ``timm_model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})``
    loads it into the timm model of the same configuration.
    """
    check_instance("model", model, VisionTransformer, "a mhsa_ms.VisionTransformer")
    params = {param.name: param.asnumpy() for param in model.get_parameters()}
    state = {}
    for timm_key, name, transform in _pairs(model):
        value = params[name]
        if transform is None:
            state[timm_key] = value.copy()
        elif transform[0] == "t":
            state[timm_key] = value.T.copy()
        else:
            block = value.T if transform[0] == "rows_t" else value
            if timm_key not in state:
                rows = 3 * block.shape[0]
                state[timm_key] = np.zeros((rows,) + block.shape[1:], np.float32)
            state[timm_key][transform[1]:transform[2]] = block
    return state
