"""Training as a function: ``train(TrainConfig) -> TrainResult``.

Data are generated on the fly: each step draws one (distance, basis, p) from the config's
ranges, samples ``batch`` shots of that task's decomposed DEM under the config's noise family
(``uniform``, ``si1000`` or ``stim``) with stim (``return_errors``), and turns the fired
mechanisms into edge labels. p is drawn log-uniformly from a fixed grid
of ``num_p`` values in [p_min, p_max] (each grid point's DEM is built once and cached).
With ``noise_from`` (one or more :class:`predecoder.noise_source.DemNoise`: a DEM learned
from a device's syndromes, say) each draw instead picks one of those DEMs and samples whole
volumes of it, on the layout of the circuit it belongs to; the held-out check then samples
the first of them. Loss: BCE-with-logits averaged over the valid (class, cell) slots. Every
step's data seed is derived from (seed, step), so a resumed run sees exactly the data the
uninterrupted run would.

The held-out check decodes fixed shots (seed :data:`EVAL_SEED`, never a benchmark's) in soft
mode and with the hard rule at logit > 0, beside PyMatching: soft-mode LER, not the loss, is
what the model is for. ``init_path`` warm-starts from a weights file of the same architecture
(its optimizer state is not needed; a fresh AdamW starts).

Checkpoints are safetensors files (weights ``model.*`` + AdamW state ``optim.*``) whose
metadata holds the model config, train config, step and shots seen: no pickle anywhere.

Examples:
    >>> import tempfile, pathlib
    >>> cfg = TrainConfig(preset="small", steps=2, batch=4, distances=(3,), eval_every=0)
    >>> res = train(cfg)
    >>> res.step, res.shots_seen
    (2, 8)
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from predecoder.edges import EdgeLayout
from predecoder.encoding import encode
from predecoder.evaluate import evaluate, evaluate_on
from predecoder.inference import DEFAULT_SOFT_CAP, CommitPolicy, labels_from_errors
from predecoder.model import PRESETS, ModelConfig, PreDecoderNet
from predecoder.noise_source import DemNoise
from predecoder.weights import load_weights, read_file, save_weights
from qec import NOISE_NAMES, InputError, NoiseModel, Task, append_text, sample_dem, unpack_bits
from qec.schedule import warmup_cosine

ProgressFn = Callable[[dict], None]
_FORMAT = torch.channels_last_3d   # ~30% faster Conv3d on CPU (oneDNN), fine on CUDA
EVAL_SEED = 1_000_003       # held-out shots: never the benchmark's seeds


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs (the model's own config comes from ``preset``)."""

    preset: str = "small"
    noise: str = "uniform"
    steps: int = 1000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    p_min: float = 0.002
    p_max: float = 0.008
    num_p: int = 8
    distances: tuple[int, ...] = (3, 5, 7)
    bases: tuple[str, ...] = ("X", "Z")
    steps_per_draw: int = 16
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 500
    eval_shots: int = 2000
    eval_distance: int = 5
    eval_p: float = 0.006
    checkpoint_path: str | None = None
    checkpoint_every: int = 500
    snapshot_steps: tuple[int, ...] = ()
    snapshot_dir: str | None = None
    log_path: str | None = None
    init_path: str | None = None
    noise_from: tuple[DemNoise, ...] = ()

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"preset={self.preset!r} must be one of {', '.join(PRESETS)}")
        if self.noise not in NOISE_NAMES:
            raise InputError(f"noise={self.noise!r} must be one of {', '.join(NOISE_NAMES)}")
        for name in ("steps", "batch", "steps_per_draw", "num_p", "eval_shots", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0 < self.p_min <= self.p_max < 0.5:
            raise InputError(f"p_min={self.p_min}, p_max={self.p_max} must satisfy "
                             "0 < p_min <= p_max < 0.5")
        if self.lr <= 0 or self.warmup_steps < 0 or self.eval_every < 0:
            raise InputError(f"lr={self.lr} must be > 0, warmup_steps={self.warmup_steps} and "
                             f"eval_every={self.eval_every} >= 0")
        object.__setattr__(self, "distances", tuple(int(d) for d in self.distances))
        if not self.distances or any(d < 3 or d % 2 == 0 for d in self.distances):
            raise InputError(f"distances={self.distances} must be odd integers >= 3")
        if not self.bases or any(b not in ("X", "Z") for b in self.bases):
            raise InputError(f"bases={self.bases} must be a non-empty subset of ('X', 'Z')")
        if self.init_path is not None and not Path(self.init_path).is_file():
            raise InputError(f"init_path={self.init_path!r} does not exist")
        if self.snapshot_steps and self.snapshot_dir is None:
            raise InputError("snapshot_steps needs snapshot_dir")
        object.__setattr__(self, "noise_from", tuple(self.noise_from))
        if any(not isinstance(src, DemNoise) for src in self.noise_from):
            raise InputError("noise_from must hold predecoder.noise_source.DemNoise objects")

    @property
    def model(self) -> ModelConfig:
        return PRESETS[self.preset]

    def p_grid(self) -> np.ndarray:
        return np.geomspace(self.p_min, self.p_max, self.num_p)

    @property
    def noise_label(self) -> str:
        """The noise family, or ``"dem"`` when training samples fixed DEMs."""
        return "dem" if self.noise_from else self.noise

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "distances": list(self.distances), "bases": list(self.bases),
                "snapshot_steps": list(self.snapshot_steps),
                "noise_from": [src.source for src in self.noise_from]}


@dataclass(frozen=True, eq=False)
class TrainResult:
    net: torch.nn.Module
    config: TrainConfig
    step: int
    shots_seen: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    init_shots_seen: int = 0

    def training_record(self) -> dict:
        """What a weights file says about how it was trained."""
        record = {"steps": self.step, "shots_seen": self.shots_seen + self.init_shots_seen,
                  "noise": self.config.noise, "p_min": self.config.p_min,
                  "p_max": self.config.p_max, "distances": list(self.config.distances),
                  "bases": list(self.config.bases), "rounds": "distance",
                  "batch": self.config.batch, "lr": self.config.lr, "seed": self.config.seed,
                  "device": self.config.device, "train_seconds": round(self.seconds, 1)}
        if self.config.noise_from:      # fixed DEMs: no family, no p range
            srcs = self.config.noise_from
            record.update(noise="dem", p_min=None, p_max=None,
                          distances=sorted({s.distance for s in srcs}),
                          bases=sorted({s.layout.geometry.basis for s in srcs}),
                          rounds=sorted({s.rounds for s in srcs}),
                          noise_from=[s.source for s in srcs])
        if self.config.init_path is not None:
            record["init"] = {"path": Path(self.config.init_path).name,
                              "shots_seen": self.init_shots_seen,
                              "shots_seen_this_run": self.shots_seen}
        return record


def learning_rate(step: int, *, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to lr/10 at ``steps``.

    Examples:
        >>> cfg = TrainConfig(steps=1000, warmup_steps=100, lr=1e-3)
        >>> [round(learning_rate(s, config=cfg), 6) for s in (0, 50, 100, 1000)]
        [1e-05, 0.0005, 0.001, 0.0001]
    """
    return warmup_cosine(step, total=config.steps, peak=config.lr, warmup=config.warmup_steps,
                         floor=0.1)


@lru_cache(maxsize=64)
def _task_layout(distance: int, basis: str, noise: str,
                 p: float) -> tuple[Task, EdgeLayout, torch.Tensor]:
    task = Task(distance=distance, basis=basis, noise=NoiseModel.named(noise, p))
    layout = EdgeLayout.from_task(task)
    return task, layout, torch.from_numpy(layout.valid)


def make_batch(config: TrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The seeded batch of ``step``: x (B, C, T, H, W), labels and mask (B|1, K, T, H, W).

    Steps come in draws of ``steps_per_draw``: one task and one stim sampler per draw
    (compiling a DEM sampler costs far more than sampling a few thousand shots).
    """
    dets, labels, layout, valid = _draw(config, step // config.steps_per_draw)
    rows = slice((step % config.steps_per_draw) * config.batch,
                 (step % config.steps_per_draw + 1) * config.batch)
    x = encode(dets[rows], layout.geometry)                    # (B, C, T, H, W)
    return x, torch.from_numpy(labels[rows]).float(), valid[None]


@lru_cache(maxsize=1)
def _draw(config: TrainConfig, draw: int) -> tuple[np.ndarray, np.ndarray, EdgeLayout,
                                                   torch.Tensor]:
    rng = np.random.default_rng([config.seed, draw])
    if config.noise_from:
        src = config.noise_from[int(rng.integers(len(config.noise_from)))]
        dem, layout, valid = src.dem, src.layout, torch.from_numpy(src.layout.valid)
    else:
        d = int(rng.choice(config.distances))
        basis = str(rng.choice(config.bases))
        p = float(rng.choice(config.p_grid()))
        task, layout, valid = _task_layout(d, basis, config.noise, p)
        dem = task.dem()
    chunk = next(sample_dem(dem, shots=config.batch * config.steps_per_draw,
                            seed=int(rng.integers(2**62)),
                            chunk_shots=config.batch * config.steps_per_draw))
    dets = unpack_bits(chunk.dets, dem.num_detectors)
    fired = labels_from_errors(layout, unpack_bits(chunk.errors, dem.num_errors))
    return dets, layout.edges_to_volume(fired), layout, valid


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits over the valid (class, cell) slots of every shot."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    mask = valid.expand_as(loss).float()
    return (loss * mask).sum() / mask.sum()


def train(config: TrainConfig, *, resume: str | Path | None = None,
          progress: ProgressFn | None = None) -> TrainResult:
    """Train (or resume from a checkpoint) the network of ``config.preset``."""
    torch.manual_seed(config.seed)
    net = PreDecoderNet(config.model).to(config.device, memory_format=_FORMAT)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    init_shots = _warm_start(net, config) if config.init_path is not None else 0
    step, shots_seen, seconds = 0, 0, 0.0
    history: list[dict] = []
    if resume is not None:
        step, shots_seen, seconds = _load_checkpoint(resume, net, opt, config)
    start = time.perf_counter() - seconds
    while step < config.steps:
        loss = _train_step(net, opt, config, step)
        step += 1
        shots_seen += config.batch
        record = {"step": step, "shots_seen": shots_seen + init_shots, "loss": loss,
                  "lr": learning_rate(step, config=config)}
        if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
            record.update(_held_out(net, config))
            history.append(record)
            _log(config.log_path, record)
        result = TrainResult(net, config, step, shots_seen, time.perf_counter() - start,
                             history, init_shots)
        _save_progress(result, opt)
        if progress is not None:
            progress(record)
    net.eval()
    return TrainResult(net, config, step, shots_seen, time.perf_counter() - start, history,
                       init_shots)


def _save_progress(result: TrainResult, opt: torch.optim.Optimizer) -> None:
    """The snapshot and checkpoint due at ``result.step``, if any."""
    config, step = result.config, result.step
    if step in config.snapshot_steps:
        save_weights(Path(config.snapshot_dir) / f"step{step:07d}.safetensors", result.net,
                     preset=config.preset, soft_cap=DEFAULT_SOFT_CAP,
                     training=result.training_record())
    if config.checkpoint_path and (step % config.checkpoint_every == 0 or step == config.steps):
        save_checkpoint(config.checkpoint_path, result, opt)


def _warm_start(net: torch.nn.Module, config: TrainConfig) -> int:
    """Load ``config.init_path``'s weights into ``net``; return the shots it had seen."""
    loaded = load_weights(config.init_path, expect=config.model)
    net.load_state_dict(loaded.net.state_dict())
    return int((loaded.metadata.get("training") or {}).get("shots_seen", 0))


def _train_step(net: torch.nn.Module, opt: torch.optim.Optimizer, config: TrainConfig,
                step: int) -> float:
    net.train()
    x, labels, valid = make_batch(config, step)
    x, labels, valid = (t.to(config.device) for t in (x, labels, valid))
    x = x.contiguous(memory_format=_FORMAT)
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, config=config)
    cuda = torch.device(config.device).type == "cuda"
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        logits = net(x)                                        # (B, K, T, H, W)
    loss = masked_bce(logits.float(), labels, valid)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


HELD_OUT_POLICIES = (CommitPolicy.soft(), CommitPolicy.hard(0.0))


def _held_out(net: torch.nn.Module, config: TrainConfig) -> dict:
    """Soft mode and hard (logit > 0) vs PM errors and SDR on fixed held-out shots."""
    net.eval()
    if config.noise_from:       # fresh samples of the first training DEM
        src = config.noise_from[0]
        chunks = sample_dem(src.dem, shots=config.eval_shots, seed=EVAL_SEED)
        ev = evaluate_on(net, src.layout, src.dem, chunks, policies=HELD_OUT_POLICIES)
    else:
        task = Task(distance=config.eval_distance, basis="X",
                    noise=NoiseModel.named(config.noise, config.eval_p))
        ev = evaluate(net, task, shots=config.eval_shots, seed=EVAL_SEED,
                      policies=HELD_OUT_POLICIES)
    soft, hard = (ev.point(p) for p in HELD_OUT_POLICIES)
    return {"eval_pm_errors": ev.pm_errors, "eval_soft_errors": soft.errors,
            "eval_pre_errors": hard.errors, "eval_shots": ev.shots, "eval_sdr": ev.sdr(soft)}


def _log(path: str | None, record: dict) -> None:
    """Append one row to the training log CSV (atomically: never a torn line)."""
    if path is None:
        return
    line = io.StringIO()
    writer = csv.DictWriter(line, fieldnames=list(record), lineterminator="\n")
    if not Path(path).exists():
        writer.writeheader()
    writer.writerow(record)
    append_text(path, line.getvalue())


def save_checkpoint(path: str | Path, result: TrainResult, opt: torch.optim.Optimizer) -> None:
    """Weights + AdamW state (tensors) + train state (metadata) in one safetensors file."""
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, s in state["state"].items():
        for key, value in s.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    extra = {"checkpoint": {"train_config": result.config.to_dict(), "step": result.step,
                            "shots_seen": result.shots_seen, "seconds": result.seconds}}
    save_weights(path, result.net, preset=result.config.preset,
                 training=result.training_record(), extra_tensors=tensors, extra_metadata=extra)


CHECKED_CONFIG_KEYS = ("preset", "noise", "batch", "steps_per_draw", "seed", "p_min", "p_max",
                       "num_p", "init_path", "noise_from")
# keys added to the training config after the first checkpoints were written, with their values
# in those older checkpoints
LATER_CONFIG_DEFAULTS = {"noise": "uniform", "init_path": None, "noise_from": []}
ADAMW_STATE_KEYS = frozenset({"step", "exp_avg", "exp_avg_sq"})


def check_checkpoint(path: str | Path, config: TrainConfig) -> None:
    """Refuse (InputError naming ``path``) a checkpoint that ``train(config, resume=path)``
    could not resume from: its training config, step, model and AdamW tensors are checked
    against ``config``. What ``qecpipe train --resume`` calls before it starts anything."""
    net = PreDecoderNet(config.model)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    _read_checkpoint(path, net, opt, config)


def _load_checkpoint(path: str | Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                     config: TrainConfig) -> tuple[int, int, float]:
    """Load a checkpoint into ``net`` and ``opt``, its every part checked against ``config``
    first (nothing is loaded from a checkpoint that fails a check); returns (step,
    shots_seen, seconds)."""
    model, state, progress = _read_checkpoint(path, net, opt, config)
    net.load_state_dict(model)
    full = opt.state_dict()
    full["state"] = {idx: {k: v.to(config.device) for k, v in s.items()}
                     for idx, s in state.items() if s}
    opt.load_state_dict(full)
    return progress


def _read_checkpoint(path: str | Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                     config: TrainConfig) -> tuple[dict, dict, tuple[int, int, float]]:
    """The checkpoint's model tensors, AdamW state per parameter index and (step,
    shots_seen, seconds), every part checked against ``net``, ``opt`` and ``config``."""
    where = f"resume={str(path)!r}"
    try:
        tensors, meta = read_file(path)
    except InputError as exc:   # not a qecpipe safetensors file: name the argument
        raise InputError(f"{where}: {exc}") from exc
    ckpt = meta.get("checkpoint")
    if ckpt is None:
        raise InputError(f"{where} is a weights file without optimizer state")
    step, shots_seen, seconds = _checked_progress(ckpt, config, where)
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    _check_shapes(model, {k: tuple(v.shape) for k, v in net.state_dict().items()},
                  f"{where}: model tensor")
    params = opt.state_dict()["param_groups"][0]["params"]
    shapes = [tuple(p.shape) for p in net.parameters()]
    state = {idx: _adamw_state(tensors, idx, shape, where) for idx, shape in zip(params, shapes)}
    if step > 0 and not all(state.values()) or any(state.values()) and not all(state.values()):
        missing = [idx for idx, v in state.items() if not v]
        raise InputError(f"{where} lacks the optimizer state of parameters {missing[:5]} "
                         f"at step={step}: a partial or edited checkpoint")
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(f"{where}: tensor {bad[0]!r} holds NaN or infinity")
    return model, state, (step, shots_seen, seconds)


def _checked_progress(ckpt, config: TrainConfig, where: str) -> tuple[int, int, float]:
    """The checkpoint's (step, shots_seen, seconds), and its training config's checked keys,
    validated against ``config``."""
    saved = ckpt.get("train_config") if isinstance(ckpt, dict) else None
    if not isinstance(saved, dict):
        raise InputError(f"{where}: its checkpoint metadata lacks a train_config object")
    ours = config.to_dict()
    for key in CHECKED_CONFIG_KEYS:
        if key not in saved and key not in LATER_CONFIG_DEFAULTS:
            raise InputError(f"{where}: its train_config lacks {key!r}")
        value = saved.get(key, LATER_CONFIG_DEFAULTS.get(key))
        if value != ours[key]:
            raise InputError(f"{where} was trained with {key}={value!r}; "
                             f"this run has {key}={ours[key]!r}")
    step, shots, seconds = (ckpt.get(k) for k in ("step", "shots_seen", "seconds"))
    if type(step) is not int or not 0 <= step <= config.steps:
        raise InputError(f"{where}: step={step!r} must be an integer in [0, {config.steps}] "
                         "(--steps of this run)")
    if type(shots) is not int or shots != step * config.batch:
        raise InputError(f"{where}: shots_seen={shots!r} must be step * batch = "
                         f"{step * config.batch}")
    if not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
        raise InputError(f"{where}: seconds={seconds!r} must be a finite number >= 0")
    return step, shots, float(seconds)


def _check_shapes(got: dict, want: dict, what: str) -> None:
    for key in sorted(set(got) | set(want)):
        if key not in got or key not in want:
            side = "is missing" if key not in got else "is not part of this model"
            raise InputError(f"{what} {key!r} {side} (the checkpoint's model is not "
                             f"--preset's)")
        if tuple(got[key].shape) != want[key]:
            raise InputError(f"{what} {key!r} has shape {tuple(got[key].shape)}; this model's "
                             f"is {want[key]}")


def _adamw_state(tensors: dict, idx: int, shape: tuple, where: str) -> dict:
    """Parameter ``idx``'s AdamW state in the checkpoint (empty if it has none), checked."""
    prefix = f"optim.{idx}."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not state:
        return {}
    if set(state) != ADAMW_STATE_KEYS:
        raise InputError(f"{where}: the optimizer state of parameter {idx} holds "
                         f"{sorted(state)}; AdamW's is {sorted(ADAMW_STATE_KEYS)}")
    for key in ("exp_avg", "exp_avg_sq"):
        if tuple(state[key].shape) != shape:
            raise InputError(f"{where}: optimizer tensor optim.{idx}.{key} has shape "
                             f"{tuple(state[key].shape)}; its parameter's is {shape}")
    if state["step"].numel() != 1:
        raise InputError(f"{where}: optimizer tensor optim.{idx}.step must be one number")
    return state


def read_log(path: str | Path) -> list[dict]:
    """Rows of a training log CSV (numbers parsed)."""
    with Path(path).open() as f:
        return [{k: json.loads(v) for k, v in row.items()} for row in csv.DictReader(f)]
