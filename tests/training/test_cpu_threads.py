"""mm.use_device() applies the CPU kernel-thread policy once per process (not a timing test)."""
import json
import textwrap

import pytest
from support import run_fresh_process

import mhsa_ms as mm
from mhsa_ms import device

SCRIPT = textwrap.dedent("""
    import json, sys
    import mindspore
    import mhsa_ms as mm
    from mindspore._c_expression import RuntimeConf

    choice = json.loads(sys.argv[1])
    device = mm.use_device("CPU") if choice is None else mm.use_device("CPU", cpu_threads=choice)
    again = mm.use_device("CPU", cpu_threads=3)  # a second call changes nothing: once per process
    conf = RuntimeConf.get_instance()
    print(json.dumps({"device": device, "again": again, "applied": mm.device_info()["cpu_threads"],
                      "configured": conf.is_op_threads_num_configured(),
                      "default": mm.device.default_cpu_threads()}))
""")


def _run(choice):
    return run_fresh_process(SCRIPT, json.dumps(choice))


def test_default_policy_is_applied_on_cpu():
    found = _run(None)
    assert found["device"] == found["again"] == "CPU"
    assert found["applied"] == found["default"] == device.default_cpu_threads()
    assert found["configured"] is True  # MindSpore's kernel threads were set, not left to its pool


def test_explicit_threads_and_mindspore_own_pool():
    assert _run(2)["applied"] == 2
    own = _run("mindspore")
    assert own["applied"] == "mindspore" and own["configured"] is False


def test_default_is_half_the_cores_at_least_one():
    assert [device.default_cpu_threads(cores) for cores in (1, 2, 3, 4, 8, 16)] == [1, 1, 1, 2, 4, 8]
    assert device.default_cpu_threads() >= 1


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), ("all", ValueError),
                                          (1.5, TypeError), (None, TypeError), (True, TypeError)])
def test_cpu_threads_argument_is_checked(value, error):
    with pytest.raises(error, match="cpu_threads must be a positive int or one of"):
        mm.use_device("CPU", cpu_threads=value)
