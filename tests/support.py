"""Small helpers shared by the package tests (MindSpore side; the NumPy side is reference.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import mindspore
from mindspore import Tensor


def tensor(array):
    """A float32 MindSpore tensor from an array."""
    return Tensor(np.asarray(array, dtype=np.float32))


def max_error(actual, expected):
    """Largest absolute difference between a MindSpore/NumPy result and a reference array."""
    actual = actual.asnumpy() if hasattr(actual, "asnumpy") else np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != reference {expected.shape}"
    return float(np.max(np.abs(actual.astype(np.float64) - expected)))


def randomize(cell, seed):
    """Give every trainable parameter non-trivial values, so no bias or norm is an identity.

    Weight matrices keep their (random) initialisation; biases, LayerNorm
    beta, class token and position embeddings get N(0, 0.2^2) values and
    LayerNorm gamma gets 1 + N(0, 0.2^2).  Returns the cell.
    """
    rng = np.random.default_rng(seed)
    for param in cell.trainable_params():
        leaf = param.name.rsplit(".", 1)[-1]
        values = param.asnumpy()
        if leaf == "gamma":
            values = 1.0 + 0.2 * rng.standard_normal(values.shape)
        elif values.ndim == 1 or leaf in ("cls_token", "pos_embed", "embedding"):
            values = 0.2 * rng.standard_normal(values.shape)
        else:
            continue
        param.set_data(Tensor(values.astype(np.float32)))
    return cell


def random_projections(embed_dim, kdim, vdim, bias, seed):
    """A random paper-convention dict W_q (D, D), W_k (kdim, D), W_v (vdim, D), W_o (D, D), b_*."""
    rng = np.random.default_rng(seed)
    rows = {"q": embed_dim, "k": kdim, "v": vdim, "o": embed_dim}
    matrices = {}
    for name, n_rows in rows.items():
        matrices[f"W_{name}"] = (rng.standard_normal((n_rows, embed_dim)) / np.sqrt(n_rows)).astype(np.float32)
        matrices[f"b_{name}"] = (0.2 * rng.standard_normal(embed_dim)).astype(np.float32) if bias else None
    return matrices


def as_bool(array):
    return mindspore.Tensor(np.asarray(array, dtype=bool))


def run_fresh_process(script, *argv, env=None):
    """Run ``script`` (Python source) in a fresh process, MindSpore's C++ logs quiet; the JSON of its last line.

    ``env`` is the process's environment (default: this process's).
    """
    environment = dict(os.environ if env is None else env, GLOG_v="4")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
