"""Benchmark: ViT-Ti/16 forward at 224 px, mm.VisionTransformer (jitted) vs timm (torch CPU).

Both models get the same weights (timm's randomly initialised ``vit_tiny_patch16_224``,
loaded into ``mm.VisionTransformer.from_preset("vit_ti_16")`` by ``mm.load_timm_weights``)
and must agree before they are timed; medians of interleaved repetitions, batch 8.
Without torch and timm (optional yardsticks, never requirements) only mm is timed.

    python benchmarks/vit_forward.py [--quick] [--batch 8] [--threads N] [--json PATH]
"""
import argparse
import os
import sys
import types

os.environ.setdefault("GLOG_v", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see attention.py: torch's spinning threads
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import mhsa_ms as mm  # noqa: E402
from _common import interleaved, write_json  # noqa: E402


def _timm():
    """(torch, timm), or (None, None) where they are not installed."""
    try:
        import torch
    except ImportError:
        return None, None
    # PyPI's torchvision wheels link CUDA torch: next to the CPU torch wheel their C++ ops cannot
    # load and importing torchvision fails while registering fake kernels for them.  timm imports
    # torchvision but its ViT uses none of those ops: skip the registrations (as
    # tests/fixtures/timm_vit/make_fixture.py does).
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    try:
        import timm
    except ImportError:
        return torch, None
    return torch, timm


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--batch", type=int, default=8, help="images per forward (default 8)")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads of MindSpore and torch (default: mm.use_device()'s policy for "
                             "MindSpore, torch's own choice)")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    import mindspore

    device = mm.use_device(cpu_threads=args.threads or "auto")
    mm.seed_everything(0)
    images = np.random.default_rng(0).normal(size=(args.batch, 3, 224, 224)).astype(np.float32)  # (B, C, H, W)
    model = mm.VisionTransformer.from_preset("vit_ti_16")
    model.set_train(False)
    torch, timm = _timm()
    if timm is None:
        torch = None
    if args.threads and torch is not None:
        torch.set_num_threads(args.threads)
    runs, agreement = {}, None
    if timm is not None:
        torch.manual_seed(0)
        reference = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
        mm.load_timm_weights(model, {k: v.detach().numpy() for k, v in reference.state_dict().items()})
        x_torch = torch.from_numpy(images)

        def timm_forward():
            with torch.no_grad():
                return reference(x_torch)
        runs["timm"] = timm_forward
    fast = mm.jit_compile(model)
    x = mindspore.Tensor(images)

    def mm_forward():
        out = fast(x)
        mindspore.runtime.synchronize()
        return out
    runs["mm jit"] = mm_forward
    if timm is not None:
        expected = runs["timm"]().numpy()
        got = mm_forward().asnumpy()
        agreement = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))
        assert agreement < 1e-3, f"mm and timm disagree: max relative difference {agreement:.2e}"
    seconds, reps = interleaved(runs, 20, warmup=2, budget_s=8.0 if args.quick else 30.0)
    result = {"device": device, "batch": args.batch, "repetitions": reps,
              "cpu_threads": mm.device_info()["cpu_threads"],
              "torch_threads": torch.get_num_threads() if torch else None,
              "ms": {name: 1e3 * s for name, s in seconds.items()},
              "mm_over_timm": seconds["mm jit"] / seconds["timm"] if "timm" in seconds else None,
              "max_relative_difference": agreement,
              "torch": torch.__version__ if torch else None, "timm": timm.__version__ if timm else None}
    line = (f"ViT-Ti/16 224 px forward, batch {args.batch} ({result['cpu_threads']} MindSpore kernel threads"
            + (f", {result['torch_threads']} torch threads" if torch else "")
            + f"): mm jit {result['ms']['mm jit']:.1f} ms")
    if result["mm_over_timm"] is not None:
        line += f", timm {result['ms']['timm']:.1f} ms: mm / timm {result['mm_over_timm']:.2f}x"
    else:
        line += " (timm not installed)"
    print(line)
    print(f"wrote {write_json('vit_forward', result, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
