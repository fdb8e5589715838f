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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from predecoder.inference import CommitPolicy
from predecoder.model import PRESETS, ModelConfig, PreDecoderNet

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
    def noise_family(self) -> str | None:
        """The noise family the model was trained on ('uniform', 'si1000', ...), if recorded."""
        return (self.metadata.get("training") or {}).get("noise")

    def policy(self, mode: str) -> CommitPolicy:
        """The calibrated :class:`CommitPolicy` of ``mode`` ('hard' or 'soft')."""
        if mode == "hard":
            return CommitPolicy.hard(self.threshold, self.rule)
        if mode != "soft":
            raise ValueError(f"mode={mode!r} must be 'hard' or 'soft'")
        if self.soft_cap is None:
            raise ValueError(f"model file {str(self.path)!r} has no soft-mode metadata "
                             "('soft_cap'): it was saved for hard mode only; save it again "
                             "with a soft_cap (predecoder.save_weights) to use soft mode")
        return CommitPolicy.soft(self.soft_cap)


def weights_metadata(net: torch.nn.Module, *, preset: str | None, threshold: float,
                     rule: str = "threshold", soft_cap: float | None = None,
                     training: dict | None = None) -> dict:
    """The JSON metadata of a weights file (architecture, commit rules, training record)."""
    from qec import __version__

    CommitPolicy.hard(threshold, rule)            # validates threshold and rule
    if soft_cap is not None:
        CommitPolicy.soft(soft_cap)               # validates the cap
    cfg: ModelConfig = net.config
    meta = {"format": FORMAT, "preset": preset, "model": cfg.to_dict(),
            "receptive_field": cfg.receptive_field, "widths": list(cfg.widths),
            "threshold": float(threshold), "commit_rule": rule,
            "package_version": __version__, "training": training or {}}
    if soft_cap is not None:
        meta["soft_cap"] = float(soft_cap)
    return meta


def save_weights(path: str | Path, net: torch.nn.Module, *, preset: str | None = None,
                 threshold: float = 0.0, rule: str = "threshold",
                 soft_cap: float | None = None, training: dict | None = None,
                 extra_tensors: dict[str, torch.Tensor] | None = None,
                 extra_metadata: dict | None = None) -> None:
    """Write ``net``'s weights (``model.*``) and metadata as one safetensors file."""
    from safetensors.torch import save_file

    meta = weights_metadata(net, preset=preset, threshold=threshold, rule=rule,
                            soft_cap=soft_cap, training=training)
    meta.update(extra_metadata or {})
    tensors = {f"model.{k}": v.detach().to("cpu", torch.float32).contiguous()
               for k, v in net.state_dict().items()}
    tensors.update(extra_tensors or {})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"qecpipe": json.dumps(meta, sort_keys=True)})
    Path(path).chmod(0o644)   # safetensors writes 0600; weights are meant to be shipped/shared


def read_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """All tensors and the parsed metadata of a qecpipe safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights_path={str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("qecpipe")
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:  # not a safetensors file: say so, not a traceback
        raise ValueError(f"weights_path={str(path)!r} is not a safetensors file: {exc}") from exc
    if raw is None:
        raise ValueError(f"weights_path={str(path)!r} has no qecpipe metadata")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(f"weights_path={str(path)!r} has format={meta.get('format')!r}; "
                         f"expected {FORMAT!r}")
    return tensors, meta


def load_weights(path: str | Path, *, device: str | torch.device = "cpu",
                 expect: ModelConfig | None = None) -> LoadedModel:
    """Load a weights file; refuse one whose tensors do not fit its declared architecture."""
    tensors, meta = read_file(path)
    config = ModelConfig.from_dict(meta["model"])
    if expect is not None and config != expect:
        raise ValueError(f"weights_path={str(path)!r} holds architecture {config}; "
                         f"expected {expect}")
    net = PreDecoderNet(config)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    want = net.state_dict()
    bad = sorted(set(want) ^ set(state)) or [
        k for k in want if tuple(want[k].shape) != tuple(state[k].shape)]
    if bad:
        raise ValueError(f"weights_path={str(path)!r} does not match its declared architecture "
                         f"(widths={list(config.widths)}, kernel={config.kernel}): tensor "
                         f"{bad[0]!r} is missing, unexpected or of the wrong shape")
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
        raise ValueError(f"model={name!r}: no shipped weights for this preset (shipped: "
                         f"{', '.join(shipped_models()) or 'none'}); train one with "
                         f"`qecpipe train --preset {name} --out FILE` and pass --model FILE")
    path = Path(name)
    if path.suffix != ".safetensors" or not path.is_file():
        raise ValueError(f"model={name!r} must be a shipped model "
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
