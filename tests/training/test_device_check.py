"""benchmarks/device_check.py on CPU, tiny: every check runs or says why not, and the JSON says so."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_on_cpu_writes_its_report(tmp_path):
    report_path = tmp_path / "device_check.json"
    env = dict(os.environ, GLOG_v="4")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--device", "CPU", "--tiny",
         "--lesson", "00", "--json", str(report_path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["device"] == "CPU" and report["ok"] is True and report["tiny"] is True
    checks = report["checks"]
    assert list(checks) == ["parity", "lesson", "attention", "training"]
    assert all(check["status"] == "passed" for check in checks.values()), checks
    # on CPU the fused kernel is absent: the parity check says what it skipped, and checks the plain path
    assert checks["parity"]["fused_path"] is False
    assert "flash_attention_score kernel is Ascend-only" in checks["parity"]["skipped"]
    assert any("Ascend-only" in line for line in report["skipped"])
    assert all(row["plain_vs_numpy_max_abs"] < 1e-4 for row in checks["parity"]["rows"])
    assert checks["lesson"]["lesson"] == "00_setup.ipynb"
    row = checks["attention"]["rows"][0]
    assert row["fwd_ms"] > 0 and row["fwd+bwd_ms"] > 0 and row["fwd_gflops"] > 0
    training = checks["training"]
    assert training["loss_last"] < training["loss_first"] and training["images_per_s"] > 0
    assert "device check on CPU: ok" in done.stdout
