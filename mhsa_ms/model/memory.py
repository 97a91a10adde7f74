r"""Peak memory of one attention forward pass, measured in a fresh process.

The tensor that grows as :math:`N^2` is the attention weights, (B, h, N, N):
:math:`4BhN^2` bytes in float32.  How much memory a forward pass really takes
is a different question (the scores before softmax, softmax's temporaries,
the allocator's caches), and only a measurement answers it.

:func:`attention_peak_memory` measures it where nothing else disturbs it: a
new Python process per call (so no memory cached by an earlier, larger call
is reused) builds ``MultiHeadAttention(D, h)`` on the CPU and its input,
runs one small warm-up forward pass (one-time set-up is not counted), then
records its resident set (Linux ``VmRSS``), resets the peak (``VmHWM``,
writing 5 to ``/proc/self/clear_refs``), runs the forward pass at N and reads
the peak again.  The difference is the memory the forward pass added at its
peak.  ``python -m mhsa_ms.model.memory N D h B`` is that process; it prints
one JSON line.
"""
import json
import os
import subprocess
import sys

from .._checks import check_bool, check_divisible, check_positive_int

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_bytes(field):
    """One ``kB`` field of /proc/self/status (VmRSS, VmHWM), in bytes."""
    with open(_STATUS, encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{_STATUS} has no {field} field")


def _reset_peak():
    """Set this process's peak resident set (VmHWM) to its current resident set."""
    with open(_CLEAR_REFS, "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


def peak_memory_supported():
    """True where :func:`attention_peak_memory` can measure: Linux with /proc/self/clear_refs."""
    return sys.platform.startswith("linux") and os.path.exists(_STATUS) and os.path.exists(_CLEAR_REFS)


def _probe(num_tokens, dim, num_heads, batch_size, need_weights):
    """The measurement, run inside the fresh process: a dict of byte counts."""
    import numpy as np

    from ..device import seed_everything, use_device
    from .attention import MultiHeadAttention
    import mindspore

    use_device("CPU")
    seed_everything(0)
    module = MultiHeadAttention(dim, num_heads)
    rng = np.random.default_rng(0)
    warm = mindspore.Tensor(rng.normal(size=(batch_size, 8, dim)).astype(np.float32))  # (B, 8, D)
    module(warm, need_weights=need_weights)[0].asnumpy()  # kernels set up once, not counted
    x = mindspore.Tensor(rng.normal(size=(batch_size, num_tokens, dim)).astype(np.float32))  # (B, N, D)
    before = _status_bytes("VmRSS")
    _reset_peak()
    out, weights = module(x, need_weights=need_weights)  # (B, N, D), (B, h, N, N) or None
    out.asnumpy()
    if weights is not None:
        weights.asnumpy()
    peak = _status_bytes("VmHWM")
    return {"num_tokens": num_tokens, "dim": dim, "num_heads": num_heads, "batch_size": batch_size,
            "before_bytes": before, "peak_bytes": peak, "extra_bytes": peak - before,
            "weights_bytes": 4 * batch_size * num_heads * num_tokens ** 2}


def attention_peak_memory(num_tokens, dim, num_heads, batch_size=1, need_weights=True, timeout=300):
    """Peak memory one ``MultiHeadAttention`` forward pass adds, measured in a fresh process.

    Runs ``python -m mhsa_ms.model.memory`` (see the module docstring) on the
    CPU, eagerly, with float32 input (B, N, D).

    Returns a dict: ``extra_bytes`` (peak resident set during the forward pass
    minus the resident set just before it), ``before_bytes``, ``peak_bytes``,
    ``weights_bytes`` (4BhN^2, the float32 attention weights) and the
    arguments.  Linux only (it reads /proc); elsewhere raises OSError.

    >>> import mhsa_ms as mm
    >>> mm.attention_peak_memory(0, 64, 4)
    Traceback (most recent call last):
    ...
    ValueError: num_tokens must be a positive int, got 0
    """
    check_positive_int("num_tokens", num_tokens)
    check_positive_int("dim", dim)
    check_positive_int("num_heads", num_heads)
    check_divisible("dim", dim, "num_heads", num_heads)
    check_positive_int("batch_size", batch_size)
    check_bool("need_weights", need_weights)
    if not peak_memory_supported():
        raise OSError("attention_peak_memory reads /proc/self/status and resets the peak through "
                      f"/proc/self/clear_refs, which this system ({sys.platform}) does not have")
    command = [sys.executable, "-m", __name__, str(num_tokens), str(dim), str(num_heads), str(batch_size),
               "1" if need_weights else "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "4")))
    if result.returncode != 0:
        raise RuntimeError(f"the memory probe {' '.join(command[1:])} failed with exit code "
                           f"{result.returncode}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    _n, _d, _h, _b, _w = (int(value) for value in sys.argv[1:6])
    print(json.dumps(_probe(_n, _d, _h, _b, bool(_w))))
