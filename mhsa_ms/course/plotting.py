"""Plotting helpers for the lessons: attention-weight heatmaps.

The labels the package draws ("key", "query", "head 1", ...) are in the learner's
language (:func:`mhsa_ms.set_language`); Chinese labels are drawn with a CJK font
(:mod:`mhsa_ms.course.fonts`).

>>> import numpy as np, mhsa_ms as mm
>>> weights = np.full((2, 3, 3), 1 / 3)                   # (h, Nq, Nk)
>>> fig = mm.plot_attention(weights, ["a", "b", "c"], ["a", "b", "c"])
>>> [ax.get_title() for ax in fig.axes[:2]]
['head 1', 'head 2']
"""
import numpy as np

from .._checks import check_bool, check_length, check_ndim_in, check_number, check_one_panel
from ..i18n import gettext as _
from .fonts import needs_cjk, use_cjk_font


def _as_array(weights):
    if hasattr(weights, "asnumpy"):
        return weights.asnumpy()
    return np.asarray(weights)


def _check_labels(name, labels, expected):
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    check_length(name, labels, expected, "one per row or column of weights")
    return labels


def plot_attention(weights, query_labels=None, key_labels=None, *, titles=None, annotate=False,
                   ax=None, cmap="viridis", vmin=0.0, vmax=1.0, colorbar=True, panel_size=2.6):
    """Heatmap of attention weights, one panel per head; returns the matplotlib Figure.

    Args:
        weights: (Nq, Nk) for one map or (h, Nq, Nk) for one panel per head;
            a MindSpore tensor or an array.  Row i is what query i attends to.
        query_labels: Nq tick labels of the rows (queries), optional.
        key_labels: Nk tick labels of the columns (keys), optional.
        titles: one title per panel; default "head 1" ... "head h" (in the
            learner's language) for (h, Nq, Nk) and none for (Nq, Nk).
        annotate: write each weight (2 decimals) in its cell.
        ax: draw a (Nq, Nk) map into these axes instead of a new figure.
        cmap, vmin, vmax: colour scale, shared by all panels (default 0..1,
            the range of softmax weights).
        colorbar: add one colour bar.
        panel_size: width and height of one panel in inches.
    """
    array = _as_array(weights).astype(np.float64)
    check_ndim_in("weights", array.shape, (2, 3), "(Nq, Nk) or (h, Nq, Nk)",
                  "; pick one sample first, e.g. weights[0] of a (B, h, Nq, Nk) tensor")
    for name, flag in (("annotate", annotate), ("colorbar", colorbar)):
        check_bool(name, flag)
    check_number("panel_size", panel_size, 0.0, exclusive_minimum=True)
    panels = array if array.ndim == 3 else array[None]  # (h, Nq, Nk)
    heads, q_len, k_len = panels.shape
    query_labels = _check_labels("query_labels", query_labels, q_len)
    key_labels = _check_labels("key_labels", key_labels, k_len)
    if titles is None:
        titles = [_("head {number}").format(number=i + 1) for i in range(heads)] if array.ndim == 3 else [None]
    titles = list(titles)
    check_length("titles", titles, heads, "one per panel")
    labels = {"key": _("key"), "query": _("query"), "weight": _("attention weight")}
    if any(needs_cjk(text) for text in [*labels.values(), *titles, *(query_labels or []), *(key_labels or [])]):
        use_cjk_font()  # before any text is made: matplotlib reads the font family then

    if ax is not None:
        check_one_panel(array.shape, heads)
        axes, figure = [ax], ax.figure
    else:
        import matplotlib.pyplot as plt

        figure, grid = plt.subplots(1, heads, figsize=(panel_size * heads + 0.8 * colorbar, panel_size),
                                    squeeze=False, constrained_layout=True)
        axes = list(grid[0])
    for panel, axis, title in zip(panels, axes, titles):
        image = axis.imshow(panel, cmap=cmap, vmin=vmin, vmax=vmax)
        axis.set_xticks(range(k_len), key_labels if key_labels else range(k_len),
                        rotation=90 if key_labels and max(map(len, key_labels)) > 3 else 0)
        axis.set_yticks(range(q_len), query_labels if query_labels else range(q_len))
        axis.set_xlabel(labels["key"])
        if axis is axes[0]:
            axis.set_ylabel(labels["query"])
        if title:
            axis.set_title(title)
        if annotate:
            middle = (vmin + vmax) / 2
            for i in range(q_len):
                for j in range(k_len):
                    axis.text(j, i, f"{panel[i, j]:.2f}", ha="center", va="center", fontsize=8,
                              color="black" if panel[i, j] > middle else "white")
    if colorbar:
        figure.colorbar(image, ax=axes, shrink=0.8, label=labels["weight"])
    return figure
