"""Weights files: safetensors tensors + JSON metadata. Never pickle.

A weights file carries its own architecture (:class:`~predecoder.model.ModelConfig`), the
hard-mode commit threshold and rule it was calibrated for, the soft-mode weight cap
(``soft_cap``; files without it cannot run in soft mode), and how it was trained (noise
family, p range, distances), so loading needs nothing else. A resumable checkpoint is the
same file plus the optimizer's tensors (``optim.*``) and its training state in the metadata.

Examples:
    >>> import tempfile, pathlib
    >>> from predecoder.model import PRESETS, PreDecoderNet
    >>> net = PreDecoderNet(PRESETS["small"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> save_weights(path, net, preset="small", threshold=2.0)
    >>> loaded = load_weights(path)
    >>> loaded.config == PRESETS["small"], loaded.threshold, loaded.metadata["receptive_field"]
    (True, 2.0, 9)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from predecoder.inference import CommitPolicy
from predecoder.model import PRESETS, ModelConfig, PreDecoderNet
from qec import InputError, atomic_write

FORMAT = "qecpipe-predecoder/1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "small"
MODEL_NAMES = tuple(PRESETS)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network in eval mode with the threshold/rule it ships with and its metadata."""

    net: torch.nn.Module
    config: ModelConfig
    threshold: float
    rule: str
    metadata: dict
    path: Path
    soft_cap: float | None = None

    @property
    def calibrated(self) -> bool:
        """Whether the hard-mode threshold was calibrated (``qecpipe calibrate``)."""
        return bool(self.metadata.get("threshold_calibrated",
                                      "calibration" in (self.metadata.get("training") or {})))

    @property
    def noise_family(self) -> str | None:
        """The noise family the model was trained on ('uniform', 'si1000', ...), if recorded."""
        return (self.metadata.get("training") or {}).get("noise")

    def policy(self, mode: str) -> CommitPolicy:
        """The calibrated :class:`CommitPolicy` of ``mode`` ('hard' or 'soft')."""
        if mode == "hard":
            return CommitPolicy.hard(self.threshold, self.rule)
        if mode != "soft":
            raise InputError(f"mode={mode!r} must be 'hard' or 'soft'")
        if self.soft_cap is None:
            raise InputError(f"model file {str(self.path)!r} has no soft-mode metadata "
                             "('soft_cap'): it was saved for hard mode only; save it again "
                             "with a soft_cap (predecoder.save_weights) to use soft mode")
        return CommitPolicy.soft(self.soft_cap)


def weights_metadata(net: torch.nn.Module, *, preset: str | None, threshold: float,
                     rule: str = "threshold", soft_cap: float | None = None,
                     training: dict | None = None, calibrated: bool = True) -> dict:
    """The JSON metadata of a weights file (architecture, commit rules, training record)."""
    from qec import __version__

    CommitPolicy.hard(threshold, rule)            # validates threshold and rule
    if soft_cap is not None:
        CommitPolicy.soft(soft_cap)               # validates the cap
    cfg: ModelConfig = net.config
    meta = {"format": FORMAT, "preset": preset, "model": cfg.to_dict(),
            "receptive_field": cfg.receptive_field, "widths": list(cfg.widths),
            "threshold": float(threshold), "commit_rule": rule,
            "threshold_calibrated": bool(calibrated),
            "package_version": __version__, "training": training or {}}
    if soft_cap is not None:
        meta["soft_cap"] = float(soft_cap)
    return meta


def save_weights(path: str | Path, net: torch.nn.Module, *, preset: str | None = None,
                 threshold: float = 0.0, rule: str = "threshold",
                 soft_cap: float | None = None, training: dict | None = None,
                 extra_tensors: dict[str, torch.Tensor] | None = None,
                 extra_metadata: dict | None = None, calibrated: bool = True) -> None:
    """Write ``net``'s weights (``model.*``) and metadata as one safetensors file, through
    qecpipe's one atomic writer (a full disk or a file-size limit is an ``OSError`` naming
    the file, and the previous file survives)."""
    from safetensors.torch import save

    meta = weights_metadata(net, preset=preset, threshold=threshold, rule=rule,
                            soft_cap=soft_cap, training=training, calibrated=calibrated)
    meta.update(extra_metadata or {})
    tensors = {f"model.{k}": v.detach().to("cpu", torch.float32).contiguous()
               for k, v in net.state_dict().items()}
    tensors.update(extra_tensors or {})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save(tensors, metadata={"qecpipe": json.dumps(meta, sort_keys=True)}))


def read_header(path: str | Path) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """The validated metadata and every tensor's shape of a qecpipe safetensors file, read
    from its header alone (no tensor is loaded)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    where = f"model file {str(path)!r}"
    if not path.is_file():
        raise InputError(f"{where} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("qecpipe")
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as exc:  # not a safetensors file: say so, not a traceback
        raise InputError(f"{where} is not a safetensors file: {exc}") from exc
    if raw is None:
        raise InputError(f"{where} has no qecpipe metadata")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} has corrupt metadata: {exc.msg}") from exc
    return _validated(meta, where), shapes


def _validated(meta, where: str) -> dict:
    """The metadata's required keys, with the types and ranges loading relies on."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise InputError(f"{where} has format={found!r}; expected {FORMAT!r}")
    for key in ("model", "threshold"):
        if key not in meta:
            raise InputError(f"{where} lacks the metadata key {key!r}")
    if not isinstance(meta["model"], dict):
        raise InputError(f"{where}: metadata 'model' must be an object, not "
                         f"{type(meta['model']).__name__}")
    numbers = {k: meta[k] for k in ("threshold", "soft_cap") if meta.get(k) is not None}
    for key, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise InputError(f"{where}: metadata {key}={value!r} must be a finite number")
    try:
        CommitPolicy.hard(meta["threshold"], meta.get("commit_rule", "threshold"))
        if meta.get("soft_cap") is not None:
            CommitPolicy.soft(meta["soft_cap"])
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    return meta


def read_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """All tensors and the validated metadata of a qecpipe safetensors file."""
    from safetensors.torch import load_file

    meta, _ = read_header(path)
    return load_file(str(path)), meta


def load_weights(path: str | Path, *, device: str | torch.device = "cpu",
                 expect: ModelConfig | None = None) -> LoadedModel:
    """Load a weights file. Its architecture is checked against its tensors' shapes BEFORE
    the network is built (a file cannot make qecpipe allocate more than it holds), and its
    tensors must be finite floating-point numbers."""
    meta, shapes = read_header(path)
    where = f"model file {str(path)!r}"
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (InputError, TypeError, KeyError) as exc:
        raise InputError(f"{where}: metadata 'model' is not an architecture: {exc}") from exc
    if expect is not None and config != expect:
        raise InputError(f"{where} holds architecture {config}; expected {expect}")
    want = {f"model.{k}": v for k, v in config.parameter_shapes().items()}
    have = {k: v for k, v in shapes.items() if k.startswith("model.")}
    bad = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
    if bad:
        raise InputError(f"{where} does not match its declared architecture (widths="
                         f"{list(config.widths)}, kernel={config.kernel}): tensor {bad[0]!r} "
                         "is missing, unexpected or of the wrong shape")
    tensors, _ = read_file(path)
    state = {k[len("model."):]: tensors[k] for k in want}
    for name, t in state.items():
        if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
            raise InputError(f"{where}: tensor {name!r} must hold finite floating-point "
                             f"numbers (dtype {t.dtype})")
    net = PreDecoderNet(config)
    net.load_state_dict(state)
    net.to(device, memory_format=torch.channels_last_3d).eval()
    cap = meta.get("soft_cap")
    return LoadedModel(net=net, config=config, threshold=float(meta["threshold"]),
                       rule=meta.get("commit_rule", "threshold"), metadata=meta, path=Path(path),
                       soft_cap=None if cap is None else float(cap))


def resolve_model(model: str | Path | None) -> Path:
    """A shipped model's name (:func:`shipped_models`) or a path -> the weights file's path."""
    name = DEFAULT_MODEL if model is None else str(model)
    if name in shipped_models():
        return WEIGHTS_DIR / f"{name}.safetensors"
    if name in MODEL_NAMES:
        raise InputError(f"model={name!r}: no shipped weights for this preset (shipped: "
                         f"{', '.join(shipped_models()) or 'none'}); train one with "
                         f"`qecpipe train --preset {name} --out FILE` and pass --model FILE")
    path = Path(name)
    if path.suffix != ".safetensors" or not path.is_file():
        raise InputError(f"model={name!r} must be a shipped model "
                         f"({', '.join(shipped_models()) or 'none'}), or an existing "
                         ".safetensors file")
    return path


def shipped_models() -> list[str]:
    """Names of the weights files shipped with the package (``--model NAME``)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float, device: str) -> LoadedModel:
    return load_weights(path, device=device)


def load_model(model: str | Path | None = None, *, device: str = "cpu") -> LoadedModel:
    """Resolve and load (cached per file and device) a shipped preset or a weights path."""
    path = resolve_model(model).resolve()
    return _cached(str(path), path.stat().st_mtime, device)
