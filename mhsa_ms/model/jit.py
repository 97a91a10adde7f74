"""The fast path: compiling a module or function with ``mindspore.jit``.

Eager (PyNative) execution launches one kernel per op from Python; under
``mindspore.jit`` the whole call is compiled into one graph once per input
shape (about half a second on CPU) and then replayed.  It pays for a call
repeated at a fixed shape (training steps, benchmarks), not for a one-off
call in a lesson.  MindSpore jits a Cell's ``construct``, not the Cell.

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> mha = mm.MultiHeadAttention(16, 8)
>>> fast = mm.jit_compile(mha)
>>> x = ms.Tensor(np.ones((3, 4, 16), np.float32))            # (B, N, D)
>>> out, weights = fast(x)
>>> bool(np.allclose(out.asnumpy(), mha(x)[0].asnumpy(), atol=1e-6)), weights.shape
(True, (3, 8, 4, 4))
"""
import mindspore
from mindspore import nn

from .._checks import check_callable, check_choice


def jit_compile(model, jit_level="O0"):
    """Return ``model`` compiled with ``mindspore.jit``: a callable with the same arguments.

    Args:
        model: a ``mindspore.nn.Cell`` (its ``construct`` is compiled, so the
            result shares the Cell's parameters) or a function of tensors, e.g.
            ``mindspore.value_and_grad(loss_fn, None, params)``.
        jit_level: MindSpore's graph optimisation level, "O0" (default, the
            fastest measured on CPU) or "O1" (adds graph-kernel fusion).

    The compiled graph sees in-place parameter updates (optimizers,
    ``mindspore.ops.assign``) but not ``Parameter.set_data`` made after its
    first call, which swaps the tensor the graph was bound to (measured with
    MindSpore 2.10); load weights before compiling.
    """
    check_choice("jit_level", jit_level, ("O0", "O1"))
    if isinstance(model, nn.Cell):
        return mindspore.jit(model.construct, jit_level=jit_level)
    check_callable("model", model)
    return mindspore.jit(model, jit_level=jit_level)
