"""mm.plot_attention: panels, labels, annotations, shared colour scale, argument errors."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from mindspore import Tensor  # noqa: E402

import mhsa_ms as mm  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _weights(heads, q_len, k_len, seed=0):
    scores = np.random.default_rng(seed).normal(size=(heads, q_len, k_len))
    return (np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)).astype(np.float32)


def test_one_panel_per_head_with_labels_and_shared_scale():
    weights = _weights(3, 2, 4)
    fig = mm.plot_attention(Tensor(weights), ["x", "y"], ["a", "b", "c", "d"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in panels] == ["head 1", "head 2", "head 3"]
    for head, ax in enumerate(panels):
        image = ax.get_images()[0]
        np.testing.assert_array_equal(image.get_array(), weights[head].astype(np.float64))
        assert image.get_clim() == (0.0, 1.0)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]


def test_single_map_into_given_axes_with_annotations():
    weights = _weights(1, 2, 3)[0]
    fig, ax = plt.subplots()
    returned = mm.plot_attention(weights, ax=ax, annotate=True, colorbar=False, titles=["mine"])
    assert returned is fig and fig.axes == [ax]
    assert ax.get_title() == "mine"
    texts = [t.get_text() for t in ax.texts]
    assert texts == [f"{value:.2f}" for value in weights.ravel()]


@pytest.mark.parametrize("kwargs, text", [
    ({"weights": np.ones(3)}, r"weights must be \(Nq, Nk\) or \(h, Nq, Nk\)"),
    ({"weights": np.ones((1, 2, 3, 3))}, r"pick one sample first"),
    ({"weights": np.ones((2, 3)), "query_labels": ["a"]}, "query_labels must have 2 entries"),
    ({"weights": np.ones((2, 3)), "key_labels": ["a"]}, "key_labels must have 3 entries"),
    ({"weights": np.ones((2, 2, 3)), "titles": ["one"]}, "titles must have 2 entries"),
])
def test_bad_arguments_are_named(kwargs, text):
    with pytest.raises(ValueError, match=text):
        mm.plot_attention(**kwargs)


def test_axes_take_a_single_map_only():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"ax draws one \(Nq, Nk\) map; weights of shape \(2, 3, 3\) have 2 panels"):
        mm.plot_attention(np.ones((2, 3, 3)), ax=ax)
