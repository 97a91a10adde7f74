"""Benchmark: the patch embedding as MindSpore's Conv2D vs reshape + matmul, side by side.

``mm.PatchEmbedding`` holds one weight in the Conv2D layout (D, C, P, P) and
computes either form (:func:`mhsa_ms.model.vit.use_patch_matmul` picks one per
process: the matmul on CPU).  This times both, jitted, forward and
forward + backward, at the ViT-Ti/16 shape (batch 8, 3x224x224) and at the
digits ViT's training step (batch 128, 1x8x8, P = 4), interleaved in one
process; reported: medians, GFLOP/s of the forward and the ratio Conv2D / matmul.

    python benchmarks/patch_embedding.py [--quick] [--json PATH]
"""
import argparse
import os
import sys

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import interleaved, table, write_json  # noqa: E402

SHAPES = {  # name: (B, C, H, W, P, D)
    "ViT-Ti/16, 224 px, batch 8": (8, 3, 224, 224, 16, 192),
    "digits ViT, batch 128": (128, 1, 8, 8, 4, 128),
}


def _summed(form):
    def total(x):
        return form(x).sum()

    return total


def contenders(shape):
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    batch, channels, height, width, patch, dim = shape
    embed = mm.PatchEmbedding(image_size=(height, width), patch_size=patch, in_channels=channels, embed_dim=dim)
    images = mindspore.Tensor(np.random.default_rng(0).standard_normal((batch, channels, height, width))
                              .astype(np.float32))
    params = embed.trainable_params()
    forms = {"Conv2D": embed._conv_form, "reshape + matmul": embed._matmul_form}
    timed = {}
    for name, form in forms.items():
        forward = mindspore.jit(form)
        backward = mindspore.jit(mindspore.value_and_grad(_summed(form), None, params))
        timed[f"{name} forward"] = lambda f=forward: f(images).asnumpy()
        timed[f"{name} forward+backward"] = lambda f=backward: f(images)[0].asnumpy()
    flops = 2 * batch * (height // patch) * (width // patch) * channels * patch * patch * dim
    return timed, flops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    import mhsa_ms as mm

    device = mm.use_device()
    rows, result = [], {"device": device, "shapes": {}}
    for label, shape in SHAPES.items():
        timed, flops = contenders(shape)
        medians, reps = interleaved(timed, 50, budget_s=3.0 if args.quick else 15.0)
        result["shapes"][label] = {"median_ms": {k: 1e3 * v for k, v in medians.items()}, "repetitions": reps,
                                   "forward_flops": flops}
        for part in ("forward", "forward+backward"):
            conv, matmul = medians[f"Conv2D {part}"], medians[f"reshape + matmul {part}"]
            gflops = (f"{flops / conv / 1e9:.2f} / {flops / matmul / 1e9:.2f}" if part == "forward" else "")
            rows.append([label, part, f"{1e3 * conv:.2f}", f"{1e3 * matmul:.2f}", f"{conv / matmul:.1f}x", gflops])
    print(f"Patch embedding on {device}: Conv2D vs reshape + matmul (jitted, medians, interleaved)")
    print(table(["shape", "pass", "Conv2D ms", "matmul ms", "Conv2D / matmul", "GFLOP/s Conv2D / matmul"], rows))
    print("written:", write_json("patch_embedding", result, args.json))


if __name__ == "__main__":
    main()
