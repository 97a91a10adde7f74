"""mm.attention_peak_memory: peak memory of a forward pass, measured in a fresh process."""
import numpy as np
import pytest

import mhsa_ms as mm
from mhsa_ms.model import memory

linux_only = pytest.mark.skipif(not memory.peak_memory_supported(), reason="reads /proc/self (Linux)")


@linux_only
def test_reset_peak_forgets_an_earlier_peak():
    big = np.ones(40 * 2**20 // 8)  # 40 MiB touched, then freed
    big[::512] = 2.0
    del big
    memory._reset_peak()
    assert memory._status_bytes("VmHWM") - memory._status_bytes("VmRSS") < 20 * 2**20
    grown = np.ones(40 * 2**20 // 8)  # the peak grows again by about 40 MiB
    assert memory._status_bytes("VmHWM") >= memory._status_bytes("VmRSS") >= grown.nbytes


@linux_only
@pytest.mark.timeout(300)
def test_measured_peak_holds_the_weights_and_grows_with_n():
    small, large = (mm.attention_peak_memory(n, 32, 4) for n in (256, 2048))
    for n, result in ((256, small), (2048, large)):
        assert result["num_tokens"] == n and (result["dim"], result["num_heads"], result["batch_size"]) == (32, 4, 1)
        assert result["weights_bytes"] == 4 * 4 * n * n
        assert result["peak_bytes"] - result["before_bytes"] == result["extra_bytes"]
    # the forward pass returns the float32 (1, 4, 2048, 2048) weights: at least their 64 MiB was added
    assert large["extra_bytes"] >= large["weights_bytes"]
    assert large["extra_bytes"] > 8 * small["extra_bytes"]  # 64 times the N^2 elements


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((0, 64, 4), {}, ValueError, "num_tokens must be a positive int, got 0"),
    ((16, 64, 3), {}, ValueError, "dim=64 must be divisible by num_heads=3"),
    ((16, 64, 4), {"batch_size": 1.5}, TypeError, "batch_size"),
    ((16, 64, 4), {"need_weights": "yes"}, TypeError, "need_weights"),
])
def test_bad_arguments_are_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        mm.attention_peak_memory(*args, **kwargs)


def test_without_proc_it_says_why(monkeypatch):
    monkeypatch.setattr(memory, "peak_memory_supported", lambda: False)
    with pytest.raises(OSError, match="/proc/self/clear_refs"):
        mm.attention_peak_memory(16, 64, 4)
