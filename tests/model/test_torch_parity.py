"""mm.MultiHeadAttention and mm.PerHeadAttention against torch.nn.MultiheadAttention, mask by mask.

The cases (tests/fixtures/torch_mha/cases.py): no mask, boolean and float
``attn_mask`` in 2-D and 3-D (and the same as 4-D), boolean and float
``key_padding_mask``, padding + causal, cross-attention with kdim/vdim,
averaged weights, fully masked rows.  Each runs against

- ``cases.npz``, torch's float64 results written by make_fixture.py: always, so CI
  checks the parity without torch;
- torch itself (float32 and float64) when torch is importable; otherwise skipped.

Agreement: 1e-5 in outputs and weights.  Where torch gives NaN (a query with
no allowed key), mhsa_ms gives zero weights and a finite output (the bias b_o).
"""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest
import mindspore

import mhsa_ms as mm

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "torch_mha"
sys.path.insert(0, str(FIXTURES))
from cases import CASES, fused_matrices, make_case, run_torch  # noqa: E402

TOLERANCE = 1e-5
HAS_TORCH = importlib.util.find_spec("torch") is not None
MODULES = {"fused": mm.MultiHeadAttention, "per_head": mm.PerHeadAttention}


def _stored_cases():
    with np.load(FIXTURES / "cases.npz") as archive:
        stored = {name: {} for name in CASES}
        for key in archive.files:
            if "/" in key:
                name, array = key.split("/", 1)
                stored[name][array] = archive[key]
    return stored


STORED = _stored_cases()


def _tensor(array):
    if array.dtype == bool:
        return mindspore.Tensor(array)
    return mindspore.Tensor(np.asarray(array, np.float32))


def _variants(name):
    """How the case's masks are handed to mhsa_ms: as torch takes them, and the equal other forms."""
    attn = CASES[name][8]
    variants = ["as_torch"]
    if attn == "causal":
        variants.append("is_causal_only")  # no attn_mask: is_causal builds it
    elif attn is not None:
        variants.append("four_d")  # the same attn_mask as (B|1, h|1, Nq, Nk)
    return variants


def run_mhsa(case, module="fused", variant="as_torch"):
    """(out, weights) of the mhsa_ms module on a case, as float64 NumPy arrays."""
    dim = case["q_proj_weight"].shape[0]
    kdim, vdim = case["k_proj_weight"].shape[1], case["v_proj_weight"].shape[1]
    heads, bias = int(case["num_heads"]), bool(case["bias"])
    attention = MODULES[module](dim, heads, kdim=kdim, vdim=vdim, bias=bias)
    attention.set_projection_matrices(fused_matrices(case))
    attention.set_train(False)
    batch, q_len, k_len = case["query"].shape[0], case["query"].shape[1], case["key"].shape[1]
    kwargs = {"average_attn_weights": bool(case["average"]), "is_causal": bool(case["is_causal"])}
    if "key_padding_mask" in case:
        kwargs["key_padding_mask"] = _tensor(case["key_padding_mask"])
    attn_mask = case.get("attn_mask")
    if attn_mask is not None and variant != "is_causal_only":
        if variant == "four_d":
            attn_mask = (attn_mask.reshape(batch, heads, q_len, k_len) if attn_mask.ndim == 3
                         else attn_mask[None, None])
        kwargs["attn_mask"] = _tensor(attn_mask)
    if bool(case["self_attention"]):
        out, weights = attention(_tensor(case["query"]), **kwargs)
    else:
        out, weights = attention(_tensor(case["query"]), _tensor(case["key"]), _tensor(case["value"]), **kwargs)
    return out.asnumpy().astype(np.float64), weights.asnumpy().astype(np.float64)


def assert_matches_torch(ours, theirs, tolerance=TOLERANCE):
    """Equal within ``tolerance`` where torch is finite; where torch is NaN, zero weights and a finite output.

    Returns the largest absolute differences (out, weights).
    """
    (out, weights), (torch_out, torch_weights) = ours, theirs
    assert out.shape == torch_out.shape and weights.shape == torch_weights.shape
    assert np.isfinite(out).all() and np.isfinite(weights).all()
    empty_rows = np.isnan(torch_weights).any(-1)  # (..., Nq): queries torch leaves NaN
    assert not weights[empty_rows].any()
    out_rows = np.isnan(torch_out).any(-1)  # (B, Nq)
    errors = (np.abs(out - torch_out)[~out_rows].max(initial=0.0),
              np.abs(weights - torch_weights)[~empty_rows].max(initial=0.0))
    assert errors[0] < tolerance and errors[1] < tolerance, errors
    return errors


def test_fixture_holds_the_cases_of_cases_py():
    """cases.npz was written from the current cases.py (inputs, weights and masks identical)."""
    assert set(STORED) == set(CASES)
    for name in CASES:
        case = make_case(name)
        for key, value in case.items():
            np.testing.assert_array_equal(STORED[name][key], value, err_msg=f"{name}/{key}")


@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("name, variant", [(name, variant) for name in CASES for variant in _variants(name)])
def test_matches_torch_fixture(name, variant, module):
    stored = STORED[name]
    case = {key: value for key, value in stored.items() if key not in ("out", "weights")}
    case = {key: value.astype(np.float64) if value.dtype == np.float32 else value for key, value in case.items()}
    assert_matches_torch(run_mhsa(case, module, variant), (stored["out"], stored["weights"]))


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed here (an optional yardstick, never a requirement); "
                                          "tests/fixtures/torch_mha/cases.npz checks the same parity")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_live_torch(name, dtype):
    case = make_case(name)
    assert_matches_torch(run_mhsa(case), run_torch(case, dtype))
