"""benchmarks/kernels.py, quick, on two workloads: each profiled in its own process, kernels named and timed."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_kernels_benchmark_names_the_kernels_of_each_workload(tmp_path):
    out = tmp_path / "kernels.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kernels.py"), "--quick", "--only", "floor", "lesson-fwd",
         "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, GLOG_v="4"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["workload"]: r for r in json.loads(out.read_text(encoding="utf-8"))["results"]}
    assert list(results) == ["floor", "lesson-fwd"]
    floor, lesson = results["floor"], results["lesson-fwd"]
    assert set(floor["kernels"]) == {"Add"} and floor["kernels"]["Add"]["launches"] == 1
    # the attention forward: two projections (MatMul), Q K^T and weights V (BatchMatMul), one softmax
    assert lesson["kernels"]["MatMul"]["launches"] == 2
    assert lesson["kernels"]["BatchMatMul"]["launches"] == 2
    assert lesson["kernels"]["Softmax"]["launches"] == 1
    assert all(k["ms"] > 0 for k in lesson["kernels"].values())
    assert lesson["wall_ms"] > 0 and lesson["first_call_s"] > 0
    assert lesson["gflops"]["reference_matmul"] > 0 and lesson["gflops"]["matmul_kernels"] > 0
    table = done.stdout
    assert "| floor |" in table and "| lesson-fwd |" in table and "BatchMatMul" in table
