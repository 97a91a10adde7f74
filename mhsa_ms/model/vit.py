r"""The Vision Transformer encoder (Dosovitskiy et al., 2021).

(B, C, H, W) --patches--> (B, N, D) with N = (H/P_h)(W/P_w), a class token in
front (B, N+1, D), learned position embeddings, ``depth`` pre-norm encoder
layers, a final LayerNorm and a linear head on the class token (or on the
mean of the patch tokens).  The knobs and presets are timm's, so a timm ViT's
weights load into it (:mod:`mhsa_ms.model.timm_weights`).

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> vit = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
>>> images = ms.Tensor(np.zeros((2, 1, 8, 8), np.float32))       # (B, C, H, W)
>>> logits, attention = vit(images, return_attention=True)
>>> logits.shape, len(attention), attention[0].shape             # (B, classes), depth x (B, h, N+1, N+1)
((2, 10), 2, (2, 4, 5, 5))
"""
import functools

import mindspore
import numpy as np
from mindspore import Parameter, nn, ops
from mindspore.common.initializer import TruncatedNormal, initializer

from .._checks import (
    check_array_dims,
    check_bool,
    check_choice,
    check_divisible,
    check_dim,
    check_instance,
    check_int_pair,
    check_number,
    check_positive_int,
    check_probability,
    check_rank,
    check_shape,
)
from .transformer import EncoderLayer, layer_norm

VIT_LAYER_NORM_EPS = 1e-6  # ViT, DeiT and timm (PyTorch's default is 1e-5)
_POOLS = ("token", "avg")


def _reference(image_size, patch_size, embed_dim, depth, num_heads):
    """timm's ``vit_*`` configuration: 1000 ImageNet classes, RGB, MLP ratio 4, qkv bias, LayerNorm 1e-6."""
    return dict(image_size=image_size, patch_size=patch_size, in_channels=3, num_classes=1000,
                embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=4.0, qkv_bias=True,
                layer_norm_eps=VIT_LAYER_NORM_EPS, global_pool="token")


VIT_PRESETS = {
    # A digits-sized model for scikit-learn's 8x8 handwritten digits: 4 patches of 4x4, trained by
    # mhsa_ms.DIGITS_RECIPE (measurements there).  In 250-step trials (seed 1, 2026-12-03), 2x2 patches
    # (16 tokens) at width 64 reached 74 % (lr 3e-3) and 94 % (lr 2e-3, no shifts); this preset 94 % (lr 3e-3).
    "digits": dict(image_size=8, patch_size=4, in_channels=1, num_classes=10,
                   embed_dim=128, depth=2, num_heads=4, mlp_ratio=2.0),
    # timm's vit_{tiny,small,base,large}_patch16_224 and vit_huge_patch14_224 (Dosovitskiy et al.;
    # Ti and S from DeiT): 224x224 RGB images, 196 patches (256 for H/14) + class token.
    "vit_ti_16": _reference(224, 16, embed_dim=192, depth=12, num_heads=3),
    "vit_s_16": _reference(224, 16, embed_dim=384, depth=12, num_heads=6),
    "vit_b_16": _reference(224, 16, embed_dim=768, depth=12, num_heads=12),
    "vit_l_16": _reference(224, 16, embed_dim=1024, depth=24, num_heads=16),
    "vit_h_14": _reference(224, 14, embed_dim=1280, depth=32, num_heads=16),
}


@functools.lru_cache(maxsize=None)
def use_patch_matmul():
    """Whether :class:`PatchEmbedding` runs as reshape + matmul instead of its Conv2D (decided once per process).

    True on CPU, where MindSpore's Conv2D with kernel = stride = patch runs at
    about 0.16 GFLOP/s and the matmul form is much faster (measured by
    benchmarks/patch_embedding.py); the Conv2D elsewhere.  Both give the same
    result (tested to 1e-6) from the same (D, C, P_h, P_w) weight.
    :func:`mhsa_ms.use_device` resets the decision.
    """
    return mindspore.get_context("device_target") == "CPU"


class PatchEmbedding(nn.Cell):
    r"""Cut images into P_h x P_w patches and project each to width D.

    (B, C, H, W) -> (B, N, D) with N = (H / P_h) * (W / P_w): one linear map
    per patch, whose weight is stored as the Conv2D kernel ``proj.weight``
    (D, C, P_h, P_w), as in timm.  Two equal forms, chosen once per process
    (:func:`use_patch_matmul`):

    - Conv2D: ``proj`` with kernel = stride = patch, then H and W flattened into N;
    - reshape + matmul: the patches as rows (B·N, C·P_h·P_w) times the kernel
      reshaped to (C·P_h·P_w, D), plus the bias.

    ``image_size`` and ``patch_size`` are an int (square) or a pair (height, width).
    """

    def __init__(self, image_size, patch_size, in_channels, embed_dim):
        super().__init__()
        height, width = check_int_pair("image_size", image_size)
        patch_h, patch_w = check_int_pair("patch_size", patch_size)
        check_positive_int("in_channels", in_channels)
        check_positive_int("embed_dim", embed_dim)
        check_divisible("image_size", height, "patch_size", patch_h)
        check_divisible("image_size", width, "patch_size", patch_w)
        self.image_size, self.patch_size, self.in_channels = (height, width), (patch_h, patch_w), in_channels
        self.grid_size = (height // patch_h, width // patch_w)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_channels, embed_dim, (patch_h, patch_w), stride=(patch_h, patch_w),
                              pad_mode="valid", has_bias=True)

    def construct(self, images):
        check_rank("images", images.shape, 4, "(B, C, H, W)")
        check_dim("images", images.shape, 1, self.in_channels, "in_channels")
        check_dim("images", images.shape, 2, self.image_size[0], "image height")
        check_dim("images", images.shape, 3, self.image_size[1], "image width")
        if use_patch_matmul():
            return self._matmul_form(images)
        return self._conv_form(images)

    def _conv_form(self, images):
        batch = images.shape[0]
        x = self.proj(images)  # (B, D, H/P_h, W/P_w)
        x = x.reshape((batch, x.shape[1], self.num_patches))  # (B, D, N): flatten H and W into N
        return ops.transpose(x, (0, 2, 1))  # (B, N, D)

    def _matmul_form(self, images):
        batch, channels = images.shape[0], images.shape[1]
        (rows, cols), (patch_h, patch_w) = self.grid_size, self.patch_size
        weight = self.proj.weight  # (D, C, P_h, P_w)
        x = images.reshape((batch, channels, rows, patch_h, cols, patch_w))  # (B, C, H/P_h, P_h, W/P_w, P_w)
        x = ops.transpose(x, (0, 2, 4, 1, 3, 5))  # (B, H/P_h, W/P_w, C, P_h, P_w): patch grid first
        x = x.reshape((batch * self.num_patches, channels * patch_h * patch_w))  # (B*N, C*P_h*P_w)
        kernel = weight.reshape((weight.shape[0], -1))  # (D, C*P_h*P_w), channel-major like each patch row
        if kernel.dtype != x.dtype:
            kernel = kernel.astype(x.dtype)
        x = ops.matmul(x, kernel.T) + self.proj.bias.astype(x.dtype)  # (B*N, D)
        return x.reshape((batch, self.num_patches, weight.shape[0]))  # (B, N, D)


class VisionTransformer(nn.Cell):
    """ViT encoder with a classification head, with timm's knobs.

    Args:
        image_size, patch_size: an int (square) or a pair (height, width).
        in_channels, num_classes, embed_dim, depth, num_heads, mlp_ratio: the shape.
        dropout: one probability for every dropout below that is not given
            (as :class:`mhsa_ms.EncoderLayer`'s); 0 by default, as in timm.
        qkv_bias: biases on W^Q, W^K, W^V (timm's default True).
        layer_norm_eps: LayerNorm epsilon, 1e-6 as in ViT and timm.
        pos_drop: dropout on the tokens after adding position embeddings (timm's pos_drop_rate).
        attn_drop: dropout on the attention weights (timm's attn_drop_rate).
        proj_drop: dropout after the attention's output projection and in the
            FFN (timm's proj_drop_rate).
        drop_path: stochastic depth, rising linearly from 0 in the first layer to
            ``drop_path`` in the last (timm's ``drop_path_rate``).
        global_pool: "token" (the class token, after the final LayerNorm) or
            "avg" (the mean of the patch tokens, then the LayerNorm: timm's fc_norm).

    Call ``(images, return_attention=False)`` with images (B, C, H, W);
    returns logits (B, num_classes), or (logits, tuple of ``depth`` attention
    weights each (B, h, N+1, N+1)).  Presets: :data:`VIT_PRESETS`, timm's
    values for ``vit_ti_16`` ... ``vit_h_14``.
    """

    def __init__(self, image_size, patch_size, in_channels, num_classes, embed_dim, depth, num_heads,
                 mlp_ratio=4.0, dropout=0.0, *, qkv_bias=True, layer_norm_eps=VIT_LAYER_NORM_EPS, pos_drop=None,
                 attn_drop=None, proj_drop=None, drop_path=0.0, global_pool="token"):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("depth", depth)
        check_probability("dropout", dropout)
        pos_drop, attn_drop, proj_drop = (dropout if rate is None else rate for rate in (pos_drop, attn_drop, proj_drop))
        for name, value in (("pos_drop", pos_drop), ("attn_drop", attn_drop), ("proj_drop", proj_drop),
                            ("drop_path", drop_path)):
            check_probability(name, value)
        check_choice("global_pool", global_pool, _POOLS)
        check_number("layer_norm_eps", layer_norm_eps, 0.0, exclusive_minimum=True)
        self.global_pool = global_pool
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, embed_dim)
        tokens = self.patch_embed.num_patches + 1
        self.cls_token = Parameter(initializer(TruncatedNormal(0.02), (1, 1, embed_dim), mindspore.float32),
                                   name="cls_token")
        self.pos_embed = Parameter(initializer(TruncatedNormal(0.02), (1, tokens, embed_dim), mindspore.float32),
                                   name="pos_embed")
        self.drop = nn.Dropout(p=pos_drop)
        rates = [drop_path * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]  # 0 ... drop_path
        self.layers = nn.CellList([
            EncoderLayer(embed_dim, num_heads, mlp_ratio, norm_first=True, attn_drop=attn_drop,
                         proj_drop=proj_drop, drop_path=rate, layer_norm_eps=layer_norm_eps, qkv_bias=qkv_bias)
            for rate in rates
        ])
        self.norm = layer_norm(embed_dim, layer_norm_eps)
        self.head = nn.Dense(embed_dim, num_classes)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Build a preset of :data:`VIT_PRESETS`, e.g. ``from_preset("vit_ti_16", num_classes=10)``."""
        check_choice("name", name, tuple(VIT_PRESETS))
        return cls(**{**VIT_PRESETS[name], **overrides})

    def construct(self, images, return_attention=False):
        check_bool("return_attention", return_attention)
        x = self.patch_embed(images)  # (B, N, D)
        cls = ops.broadcast_to(self.cls_token.astype(x.dtype), (x.shape[0], 1, x.shape[2]))  # (B, 1, D)
        x = ops.cat((cls, x), 1) + self.pos_embed.astype(x.dtype)  # (B, N+1, D)
        x = self.drop(x)
        attention = ()
        for layer in self.layers:
            x, weights = layer(x, need_weights=return_attention)  # (B, N+1, D), (B, h, N+1, N+1)
            attention = attention + (weights,)
        if self.global_pool == "avg":
            pooled = self.norm(x[:, 1:].mean(1))  # (B, D): mean of the patch tokens, then LayerNorm
        else:
            pooled = self.norm(x)[:, 0]  # (B, D): the class token
        logits = self.head(pooled)  # (B, num_classes)
        if return_attention:
            return logits, attention
        return logits


def attention_rollout(attention, residual_weight=0.5):
    r"""Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on each input token.

    Each layer's weights are averaged over the heads, mixed with the identity
    for the residual connection and multiplied through the layers, first layer
    rightmost:

    .. math:: \tilde A_l = (1 - r)\,\bar A_l + r\,I, \qquad \bar A_l = \tfrac1h \textstyle\sum_i A_{l,i},
        \qquad R = \tilde A_L \cdots \tilde A_2\, \tilde A_1

    Every row of :math:`\tilde A_l` sums to 1 when those of the weights do, so
    every row of R does too.  Row 0 of R, for a ViT, is the class token's share
    of every input token (the class token first, then the N patches).

    Args:
        attention: a sequence of ``depth`` attention weights, each (B, h, N, N)
            (MindSpore tensors or arrays), first layer first: e.g. what
            ``VisionTransformer(..., return_attention=True)`` returns.
        residual_weight: r, the identity's share for the residual path
            (0.5 in the paper; 0 multiplies the bare attention maps).

    Returns:
        float64 array (B, N, N).

    >>> import numpy as np, mhsa_ms as mm
    >>> first = np.array([[[[1.0, 0.0], [1.0, 0.0]]]])     # (B, h, N, N): both tokens read token 0
    >>> second = np.array([[[[0.0, 1.0], [0.0, 1.0]]]])    # both tokens read token 1
    >>> mm.attention_rollout([first, second])[0].tolist()  # (0.5 A2 + 0.5 I)(0.5 A1 + 0.5 I)
    [[0.75, 0.25], [0.5, 0.5]]
    """
    check_instance("attention", attention, (tuple, list), "a tuple or list of (B, h, N, N) attention weights")
    check_positive_int("len(attention)", len(attention))
    check_number("residual_weight", residual_weight, 0.0, 1.0)
    layers = [check_array_dims(f"attention[{i}]", a.asnumpy() if hasattr(a, "asnumpy") else a, 4, "(B, h, N, N)")
              for i, a in enumerate(attention)]
    for i, weights in enumerate(layers):
        check_shape(f"attention[{i}]", weights.shape, layers[0].shape[:2] + (layers[0].shape[2],) * 2,
                    "(B, h, N, N) like attention[0]")
    batch, _, tokens, _ = layers[0].shape
    rollout = np.broadcast_to(np.eye(tokens), (batch, tokens, tokens))  # (B, N, N)
    for weights in layers:
        mixed = (1.0 - residual_weight) * weights.astype(np.float64).mean(1) + residual_weight * np.eye(tokens)
        rollout = mixed @ rollout  # (B, N, N): this layer after the ones below it
    return np.array(rollout)
