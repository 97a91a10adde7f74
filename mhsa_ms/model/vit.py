r"""The Vision Transformer encoder (Dosovitskiy et al., 2021).

(B, C, H, W) --patches--> (B, N, D) with N = (H/P)(W/P), a class token in
front (B, N+1, D), learned position embeddings, ``depth`` pre-norm encoder
layers, a final LayerNorm and a linear head on the class token.

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> vit = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
>>> images = ms.Tensor(np.zeros((2, 1, 8, 8), np.float32))       # (B, C, H, W)
>>> logits, attention = vit(images, return_attention=True)
>>> logits.shape, len(attention), attention[0].shape             # (B, classes), depth x (B, h, N+1, N+1)
((2, 10), 2, (2, 4, 5, 5))
"""
import mindspore
from mindspore import Parameter, nn, ops
from mindspore.common.initializer import TruncatedNormal, initializer

from .._checks import check_divisible, check_positive_int, check_probability, check_rank
from .transformer import EncoderLayer, layer_norm

VIT_PRESETS = {
    # A digits-sized model for scikit-learn's 8x8 handwritten digits: 4 patches of 4x4.  With
    # DIGITS_RECIPE it reached >= 98 % test accuracy within 60 s on 2 CPU cores; 2x2 patches
    # (16 tokens) trained slower and plateaued near 95 % in the same time (see lesson 6).
    "digits": dict(image_size=8, patch_size=4, in_channels=1, num_classes=10,
                   embed_dim=128, depth=2, num_heads=4, mlp_ratio=2.0),
    # The ViT-Ti/S/B 16x16 shapes on 224x224 RGB images (196 patches + class token).
    "vit_ti_16": dict(image_size=224, patch_size=16, in_channels=3, num_classes=1000,
                      embed_dim=192, depth=12, num_heads=3),
    "vit_s_16": dict(image_size=224, patch_size=16, in_channels=3, num_classes=1000,
                     embed_dim=384, depth=12, num_heads=6),
    "vit_b_16": dict(image_size=224, patch_size=16, in_channels=3, num_classes=1000,
                     embed_dim=768, depth=12, num_heads=12),
}


class PatchEmbedding(nn.Cell):
    """Cut images into P x P patches and project each to width D.

    (B, C, H, W) -> (B, N, D) with N = (H / P) * (W / P): a stride-P
    convolution is one linear map per patch; then H and W are flattened into N.
    """

    def __init__(self, image_size, patch_size, in_channels, embed_dim):
        super().__init__()
        for name, value in (("image_size", image_size), ("patch_size", patch_size),
                            ("in_channels", in_channels), ("embed_dim", embed_dim)):
            check_positive_int(name, value)
        check_divisible("image_size", image_size, "patch_size", patch_size)
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size,
                              pad_mode="valid", has_bias=True)

    def construct(self, images):
        check_rank("images", images.shape, 4, "(B, C, H, W)")
        batch, channels, height, width = images.shape
        if channels != self.in_channels:
            raise ValueError(f"images must have in_channels={self.in_channels} channels, "
                             f"got shape {images.shape}")
        if height != self.image_size or width != self.image_size:
            raise ValueError(f"images must be {self.image_size}x{self.image_size}, got shape {images.shape}")
        x = self.proj(images)  # (B, D, H/P, W/P)
        x = x.reshape((batch, x.shape[1], self.num_patches))  # (B, D, N): flatten H and W into N
        return ops.transpose(x, (0, 2, 1))  # (B, N, D)


class VisionTransformer(nn.Cell):
    """ViT encoder with a classification head.

    Call ``(images, return_attention=False)`` with images (B, C, H, W);
    returns logits (B, num_classes), or (logits, tuple of ``depth`` attention
    weights each (B, h, N+1, N+1)).  Presets: :data:`VIT_PRESETS`.
    """

    def __init__(self, image_size, patch_size, in_channels, num_classes, embed_dim, depth,
                 num_heads, mlp_ratio=4.0, dropout=0.0):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("depth", depth)
        check_probability("dropout", dropout)
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, embed_dim)
        tokens = self.patch_embed.num_patches + 1
        self.cls_token = Parameter(initializer(TruncatedNormal(0.02), (1, 1, embed_dim), mindspore.float32),
                                   name="cls_token")
        self.pos_embed = Parameter(initializer(TruncatedNormal(0.02), (1, tokens, embed_dim), mindspore.float32),
                                   name="pos_embed")
        self.drop = nn.Dropout(p=dropout)
        self.layers = nn.CellList([
            EncoderLayer(embed_dim, num_heads, mlp_ratio, dropout, norm_first=True) for _ in range(depth)
        ])
        self.norm = layer_norm(embed_dim)
        self.head = nn.Dense(embed_dim, num_classes)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Build a preset of :data:`VIT_PRESETS`, e.g. ``from_preset("vit_ti_16")``."""
        if name not in VIT_PRESETS:
            raise ValueError(f"name must be one of {sorted(VIT_PRESETS)}, got {name!r}")
        return cls(**{**VIT_PRESETS[name], **overrides})

    def construct(self, images, return_attention=False):
        x = self.patch_embed(images)  # (B, N, D)
        cls = ops.broadcast_to(self.cls_token, (x.shape[0], 1, x.shape[2]))  # (B, 1, D)
        x = ops.cat((cls, x), 1) + self.pos_embed  # (B, N+1, D)
        x = self.drop(x)
        attention = ()
        for layer in self.layers:
            x, weights = layer(x, need_weights=return_attention)  # (B, N+1, D), (B, h, N+1, N+1)
            attention = attention + (weights,)
        logits = self.head(self.norm(x)[:, 0])  # (B, num_classes), from the class token
        if return_attention:
            return logits, attention
        return logits
