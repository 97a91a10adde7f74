"""Checks of lesson 6 (the Vision Transformer): 6.1 num_tokens, 6.2 patchify, 6.3 attend_sequence_first."""
import numpy as np

from .numpy_maths import multi_head_attention
from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_VIT = (("mhsa_ms.model.vit:PatchEmbedding.__init__", "mm.PatchEmbedding"),
        ("mhsa_ms.model.vit:VisionTransformer.__init__", "mm.VisionTransformer"))
_PATCH_FORWARD = (("mhsa_ms.model.vit:PatchEmbedding.construct", "mm.PatchEmbedding"),)


def _token_cases(rng):
    patch = int(rng.integers(2, 9))
    return [{"image_size": 8, "patch_size": 2}, {"image_size": 224, "patch_size": 16},
            {"image_size": 32, "patch_size": 4}, {"image_size": patch * int(rng.integers(2, 11)), "patch_size": patch}]


def _patch_cases(rng):
    return [{"images": rng.normal(size=shape), "patch_size": patch}
            for shape, patch in (((2, 3, 4, 6), 2), ((1, 2, 6, 6), 3), ((2, 1, 4, 8), 2), ((1, 3, 6, 9), 3))]


def _patchify(images, patch_size, order=(0, 2, 4, 1, 3, 5)):
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, H/P, P, W/P, P)
    return x.transpose(order).reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C*P*P) for the right order


def _module_cases(rng):
    cases = []
    for tokens, batch, width, heads in ((5, 3, 8, 2), (4, 2, 12, 3), (6, 1, 8, 4)):
        case = {"embed_dim": width, "num_heads": heads, "x": rng.normal(size=(tokens, batch, width)).astype(np.float32)}
        for name in "qkvo":
            case[f"w_{name}"] = (rng.normal(size=(width, width)) / np.sqrt(width)).astype(np.float32)
            case[f"b_{name}"] = (0.2 * rng.normal(size=width)).astype(np.float32)
        cases.append(case)
    return cases


def _attend(p, x):
    """The module on batch-first x (B, N, D)."""
    return multi_head_attention(x, p["num_heads"], *(p[f"{kind}_{name}"] for name in "qkvo" for kind in "wb"))


def _sequence_first(**p):
    return _attend(p, p["x"].transpose(1, 0, 2)).transpose(1, 0, 2)  # (N, B, D)


def _reshaped(**p):
    tokens, batch, width = p["x"].shape
    return _attend(p, p["x"].reshape(batch, tokens, width)).reshape(tokens, batch, width)


CHECKS = (
    ExerciseCheck(
        id="6.1", answer="num_tokens", caller="number", cases=_token_cases,
        reference=lambda image_size, patch_size: (image_size // patch_size) ** 2 + 1,
        hint=N_("count the patches, (H / P) rows of them times (W / P) columns, and add the class token"),
        mistakes=(
            Mistake("no class token", lambda image_size, patch_size: (image_size // patch_size) ** 2,
                    N_("the encoder also sees the class token: add one")),
            Mistake("one direction", lambda image_size, patch_size: image_size // patch_size + 1,
                    N_("the image is cut both ways: (H / P) patches down times (W / P) across")),
            Mistake("patch area", lambda image_size, patch_size: patch_size ** 2 + 1,
                    N_("count the patches, not the pixels of one patch")),
        ),
        forbidden=_VIT,
        exact=True,
    ),
    ExerciseCheck(
        id="6.2", answer="patchify", caller="numpy", cases=_patch_cases, reference=_patchify,
        hint=N_("split H and W into (patches, P) each, bring the two patch axes to the front, and keep channel, "
                "row, column as the order inside a patch"),
        mistakes=(
            Mistake("channels last", lambda images, patch_size: _patchify(images, patch_size, (0, 2, 4, 3, 5, 1)),
                    N_("inside a patch the order is channel, then row, then column: the channel axis comes first")),
            Mistake("direct reshape", lambda images, patch_size: _patchify(images, patch_size, (0, 1, 2, 3, 4, 5)),
                    N_("a direct reshape cuts the image row by row, not into patches: split H and W into "
                       "(patches, P) each and move the two patch axes in front")),
            Mistake("column-major tokens", lambda images, patch_size: _patchify(images, patch_size,
                                                                                (0, 4, 2, 1, 3, 5)),
                    N_("tokens go along each row of patches first: token i * (W / P) + j is patch row i, column j")),
            Mistake("columns inside first", lambda images, patch_size: _patchify(images, patch_size,
                                                                                 (0, 2, 4, 1, 5, 3)),
                    N_("inside a patch the pixels go row by row: the row index comes before the column index")),
        ),
        forbidden=_PATCH_FORWARD,
        exact=True,
    ),
    ExerciseCheck(
        id="6.3", answer="attend_sequence_first", caller="attention_module", cases=_module_cases,
        reference=_sequence_first,
        hint=N_("the module reads (B, N, D): swap the first two axes of x before the attention and swap them back "
                "on the output, so that each image attends only to its own tokens"),
        mistakes=(
            Mistake("reshape", _reshaped,
                    N_("a reshape does not move the axes, it regroups the numbers, so tokens of different images "
                       "get mixed: swap the first two axes instead")),
            Mistake("not transposed", lambda **p: _attend(p, p["x"]),
                    N_("a batch-first module reads axis 0 as the batch: without swapping N and B, each position "
                       "attends across the images instead of along its own tokens")),
            Mistake("not back", lambda **p: _attend(p, p["x"].transpose(1, 0, 2)),
                    N_("swap the axes of the output back to the caller's sequence-first layout (N, B, D)")),
            Mistake("input", lambda **p: p["x"],
                    N_("your function returns its input: run the module on the batch-first view of x")),
        ),
        rtol=1e-4, atol=1e-5,
    ),
)
