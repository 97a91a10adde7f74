"""mhsa_ms: multi-head self-attention in MindSpore, one lesson a day.

Shape legend used in every docstring and comment of this package:

    B    batch size
    N    number of tokens (Nq for queries, Nk for keys/values when they differ)
    D    model width (embed_dim)
    h    number of heads
    d_h  per-head width, D / h
    C, H, W  image channels, height, width;  P  patch size

Importing the package runs no MindSpore op and prints nothing, so that
:func:`use_device` can still choose the device afterwards.
"""
import os as _os

# MindSpore writes pid- and time-stamped logs to stderr, which break nbval's
# output comparison.  GLOG_v only works if set before mindspore is imported.
_os.environ.setdefault("GLOG_v", "4")

from .device import available_backends, seed_everything, use_device, device_info  # noqa: E402
from .functional import (  # noqa: E402
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
    use_fused_attn,
)
from .heads import (  # noqa: E402
    head_selection_matrix,
    merge_heads,
    per_head_weights,
    split_heads,
)
from .attention import MultiHeadAttention, PerHeadAttention  # noqa: E402
from .transformer import (  # noqa: E402
    DecoderLayer,
    EncoderLayer,
    FeedForward,
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_positional_encoding,
)
from .vit import VIT_PRESETS, PatchEmbedding, VisionTransformer  # noqa: E402
from .flops import attention_flops  # noqa: E402
from .fast import compile  # noqa: E402,A001
from .exercises import check_exercise, exercise_results  # noqa: E402
from .data import (  # noqa: E402
    DIGITS_CLASSES,
    DIGITS_SHA256,
    Digits,
    digits_checksum,
    iterate_batches,
    load_digits,
    random_shift,
    reverse_task,
)
from .sequence import TokenEncoder  # noqa: E402
from .training import (  # noqa: E402
    DIGITS_RECIPE,
    confusion_matrix,
    cross_entropy,
    epoch_batches,
    evaluate,
    make_optimizer,
    make_train_step,
    predict,
    train_classifier,
    warmup_cosine_schedule,
)
from .checkin import LESSON_TITLES, checkin  # noqa: E402
from .plotting import plot_attention  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DIGITS_CLASSES",
    "TokenEncoder",
    "DIGITS_RECIPE",
    "DIGITS_SHA256",
    "Digits",
    "confusion_matrix",
    "cross_entropy",
    "digits_checksum",
    "epoch_batches",
    "evaluate",
    "iterate_batches",
    "load_digits",
    "make_optimizer",
    "make_train_step",
    "predict",
    "random_shift",
    "reverse_task",
    "train_classifier",
    "warmup_cosine_schedule",
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "LESSON_TITLES",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "PatchEmbedding",
    "PerHeadAttention",
    "SinusoidalPositionalEncoding",
    "VIT_PRESETS",
    "VisionTransformer",
    "attention_flops",
    "compile",
    "available_backends",
    "causal_mask",
    "check_exercise",
    "checkin",
    "device_info",
    "exercise_results",
    "head_selection_matrix",
    "merge_heads",
    "padding_mask",
    "per_head_weights",
    "plot_attention",
    "scaled_dot_product_attention",
    "seed_everything",
    "sinusoidal_positional_encoding",
    "split_heads",
    "use_device",
    "use_fused_attn",
]
