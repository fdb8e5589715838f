"""predecoder: the learned local decoder -- encoding, edge layout, model, training, inference.

Depends on qec only. Imports torch (``import qec`` does not).
"""

from predecoder.edges import EDGE_CLASSES, EDGE_OFFSETS, NUM_CLASSES, EdgeLayout
from predecoder.encoding import CHANNELS, IN_CHANNELS, encode
from predecoder.inference import (
    COMMIT_RULES,
    DEFAULT_SOFT_CAP,
    MODES,
    CommitPolicy,
    Corrections,
    apply_edges,
    commit,
    corrections,
    edge_logits,
    labels_from_errors,
    predecode,
    shot_logits,
    soft_weights,
    volume_logits,
)
from predecoder.model import PRESETS, ModelConfig, PreDecoderNet, num_parameters
from predecoder.weights import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    LoadedModel,
    load_model,
    load_weights,
    resolve_model,
    save_weights,
    shipped_models,
)

__all__ = [
    "CHANNELS", "COMMIT_RULES", "CommitPolicy", "Corrections", "DEFAULT_SOFT_CAP", "MODES",
    "corrections", "soft_weights", "DEFAULT_MODEL", "EDGE_CLASSES", "EDGE_OFFSETS",
    "EdgeLayout", "IN_CHANNELS", "LoadedModel", "MODEL_NAMES", "ModelConfig", "NUM_CLASSES",
    "PRESETS", "PreDecoderNet", "apply_edges", "commit", "edge_logits", "encode",
    "labels_from_errors", "load_model", "load_weights", "num_parameters", "predecode",
    "resolve_model", "save_weights", "shipped_models", "shot_logits", "volume_logits",
]
