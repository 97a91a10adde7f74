"""mm.use_device() on CPU runs MindSpore's host pipeline without its spinning frontend thread (not a timing test).

Measured (docs/performance.md): with the frontend_queue thread spinning on sched_yield, a process
on 2 cores fell into a mode where every jitted call took 15-20 ms more; without it, never.
"""
import os
import textwrap

from support import run_fresh_process

SCRIPT = textwrap.dedent("""
    import json, os
    import numpy as np
    import mindspore
    import mhsa_ms as mm

    mm.use_device("CPU")
    (mindspore.Tensor(np.ones(3, np.float32)) + 1).asnumpy()  # an op: the pipeline exists now
    threads = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    print(json.dumps({"env": os.environ.get("MS_DEV_HOST_BLOCKING_RUN"), "threads": threads}))
""")


def _run(**env):
    environment = {k: v for k, v in os.environ.items() if k != "MS_DEV_HOST_BLOCKING_RUN"}
    return run_fresh_process(SCRIPT, env=dict(environment, **env))


def test_use_device_sets_host_blocking_before_the_first_op():
    found = _run()
    assert found["env"] == "1"
    assert "frontend_queue" not in found["threads"], found["threads"]


def test_a_learners_own_setting_stays():
    found = _run(MS_DEV_HOST_BLOCKING_RUN="0")
    assert found["env"] == "0"
    if "infer_queue" in found["threads"]:  # MindSpore versions with the queued host pipeline (2.10)
        assert "frontend_queue" in found["threads"]
