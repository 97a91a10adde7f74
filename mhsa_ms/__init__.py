"""mhsa_ms: multi-head self-attention in MindSpore, one lesson a day.

The learner's library, imported by every lesson as ``import mhsa_ms as mm``:

- :mod:`mhsa_ms.device`: choosing the device, seeding;
- :mod:`mhsa_ms.model`: the attention maths (functional attention, heads, the
  attention modules, Transformer layers, positional encodings, the ViT, cost);
- :mod:`mhsa_ms.data` and :mod:`mhsa_ms.training`: the data sets and the training loop;
- :mod:`mhsa_ms.course`: what the lessons add (exercise checks, the check-in card, plots);
- :mod:`mhsa_ms.i18n`: the learner's language, 简体中文 or English (:func:`set_language`).

Shape legend used in every docstring and comment of this package:

    B    batch size
    N    number of tokens (Nq for queries, Nk for keys/values when they differ)
    D    model width (embed_dim)
    h    number of heads
    d_h  per-head width, D / h
    C, H, W  image channels, height, width;  P  patch size

Importing the package runs no MindSpore op and prints nothing, so that
:func:`use_device` can still choose the device afterwards.  The instructors'
tools live in the separate package ``mhsa_tools``, which this one never imports.
"""
import os as _os

# MindSpore writes pid- and time-stamped logs to stderr, which break nbval's
# output comparison.  GLOG_v only works if set before mindspore is imported.
_os.environ.setdefault("GLOG_v", "4")

# One clear ImportError on a MindSpore outside the tested range (mhsa_ms/_mindspore_version.py),
# before any module below imports MindSpore.
from ._mindspore_version import check_mindspore_version as _check_mindspore_version  # noqa: E402

_check_mindspore_version()

from .device import available_backends, device_info, seed_everything, use_device  # noqa: E402
from .model.functional import (  # noqa: E402
    causal_mask,
    key_padding_mask,
    padding_mask,
    scaled_dot_product_attention,
    use_fused_attn,
)
from .model.heads import head_selection_matrix, merge_heads, per_head_weights, split_heads  # noqa: E402
from .model.attention import MultiHeadAttention, PerHeadAttention  # noqa: E402
from .model.transformer import DecoderLayer, EncoderLayer, FeedForward  # noqa: E402
from .model.positional import (  # noqa: E402
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_positional_encoding,
)
from .model.token_encoder import TokenEncoder  # noqa: E402
from .model.seq2seq import Seq2SeqTransformer, shift_right  # noqa: E402
from .model.vit import VIT_PRESETS, PatchEmbedding, VisionTransformer, attention_rollout  # noqa: E402
from .model.timm_weights import load_timm_weights, timm_state_dict  # noqa: E402
from .model.cost import attention_flops  # noqa: E402
from .model.memory import attention_peak_memory  # noqa: E402
from .model.jit import jit_compile  # noqa: E402
from .data import iterate_batches, load_digits, offset_pair_task, reverse_task, sort_task  # noqa: E402
from .training import (  # noqa: E402
    DIGITS_RECIPE,
    confusion_matrix,
    cross_entropy,
    evaluate,
    make_optimizer,
    make_train_step,
    predict,
    train_classifier,
    train_steps,
    warmup_cosine_schedule,
)
from .course.exercises import check_exercise, exercise_results  # noqa: E402
from .course.card import checkin  # noqa: E402
from .course.plotting import plot_attention  # noqa: E402
from .i18n import set_language  # noqa: E402

__version__ = "0.1.0"

# The documented API: every name below has a row in the README's package table.
__all__ = [
    # device
    "available_backends",
    "device_info",
    "seed_everything",
    "use_device",
    # attention maths
    "causal_mask",
    "padding_mask",
    "key_padding_mask",
    "scaled_dot_product_attention",
    "use_fused_attn",
    "head_selection_matrix",
    "merge_heads",
    "per_head_weights",
    "split_heads",
    "MultiHeadAttention",
    "PerHeadAttention",
    "FeedForward",
    "EncoderLayer",
    "DecoderLayer",
    "LearnedPositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "sinusoidal_positional_encoding",
    "TokenEncoder",
    "Seq2SeqTransformer",
    "shift_right",
    "PatchEmbedding",
    "VisionTransformer",
    "VIT_PRESETS",
    "attention_rollout",
    "load_timm_weights",
    "timm_state_dict",
    "attention_flops",
    "attention_peak_memory",
    "jit_compile",
    # data and training
    "load_digits",
    "reverse_task",
    "sort_task",
    "offset_pair_task",
    "iterate_batches",
    "DIGITS_RECIPE",
    "cross_entropy",
    "make_optimizer",
    "make_train_step",
    "warmup_cosine_schedule",
    "train_classifier",
    "train_steps",
    "predict",
    "evaluate",
    "confusion_matrix",
    # course
    "check_exercise",
    "exercise_results",
    "checkin",
    "plot_attention",
    "set_language",
]
