"""benchmarks/targets.py's verdicts, from made-up measurements: met, not met, and the profile named."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import targets  # noqa: E402


def _row(shape, n, passes, mm, torch, ms_nn, gflops=None, matmul=None):
    return {"shape": shape, "B": 1, "N": n, "D": 192, "h": 3, "pass": passes,
            "ms": {"mm jit": mm, "torch": torch, "ms.nn eager": ms_nn, "ms.nn jit": 2 * ms_nn},
            "gflops": {"mm jit": gflops}, "matmul_gflops": matmul}


def test_attention_rows_judge_each_ratio_against_its_goal():
    result = {"torch": "2.13", "rows": [
        _row("ViT-Ti", 197, "fwd+bwd", mm=13.0, torch=10.0, ms_nn=30.0),   # 1.3x torch: met; 2.3x ms.nn: met
        _row("lesson", 4, "fwd+bwd", mm=2.1, torch=1.0, ms_nn=4.0),        # 2.1x torch: not met; 1.9x: not met
        _row("N=1024", 1024, "fwd", mm=20.0, torch=10.0, ms_nn=50.0, gflops=43.0, matmul=50.0),  # 86 %: met
        _row("N=1024", 1024, "fwd+bwd", mm=80.0, torch=40.0, ms_nn=200.0, gflops=34.0, matmul=None),  # 68 %
    ]}
    verdicts = {row[0]: row[3] for row in targets.attention_targets(result)}
    assert verdicts["MHA fwd+bwd ViT-Ti (1,197,192,3): mm / torch CPU"] == "met"
    assert verdicts["MHA fwd+bwd lesson (1,4,192,3): mm / torch CPU"] == "not met"
    assert verdicts["MHA fwd+bwd ViT-Ti: mindspore.nn.MultiheadAttention / mm"] == "met"
    assert verdicts["MHA fwd+bwd lesson: mindspore.nn.MultiheadAttention / mm"] == "not met"
    # both N = 1024 shares are taken against the forward's matmul measurement
    assert verdicts["attention fwd N=1024: share of the same run's matmul GFLOP/s"] == "met"
    assert verdicts["attention fwd+bwd N=1024: share of the same run's matmul GFLOP/s"] == "not met"


def test_a_target_not_met_names_the_profile_that_shows_its_kernels():
    assert targets.profile_of("MHA fwd+bwd lesson (3,4,16,8): mm / torch CPU", "not met").startswith("lesson-fwd+bwd")
    assert targets.profile_of("MHA fwd lesson: mindspore.nn.MultiheadAttention / mm", "not met").startswith(
        "lesson-fwd,")
    assert targets.profile_of("attention fwd+bwd N=1024: share of the same run's matmul GFLOP/s",
                              "not met") == "n1024-fwd+bwd"
    assert targets.profile_of("attention fwd N=1024: share of the same run's matmul GFLOP/s",
                              "not met") == "n1024-fwd"
    assert targets.profile_of("ViT-Ti/16 224 px forward, batch 8: mm / timm", "not met") == "vit-ti-fwd"
    assert targets.profile_of("MHA fwd+bwd ViT-Ti (8,197,192,3): mm / torch CPU", "not met") == "vitti-fwd+bwd"
    assert targets.profile_of("MHA fwd+bwd N=256 (1,256,192,3): mm / torch CPU", "not met") == "—"
    assert targets.profile_of("digits ViT, mm.DIGITS_RECIPE (40 epochs): ...", "not met") == "digits-step"
    assert targets.profile_of("ViT-Ti/16 224 px forward, batch 8: mm / timm", "met") == "—"
    every_workload = {name for _, names in targets.PROFILES for name in names.split(", ")}
    import kernels
    assert every_workload <= set(kernels.WORKLOADS)
