"""The paper's learned noise estimator (arXiv:2604.12841 section V), in torch.

Architecture (arXiv:2604.12841 section V): two bulk rounds of detection events in a 4-channel
encoding -> 2D CNN (widths 128, 256, 256, 128; 3x3, GroupNorm, GeLU) -> global average
pooling -> MLP 128-256-128-K -> per-shot logits, averaged over all shots -> bounded log-space
probabilities ``q = exp(log q_min + (log q_max - log q_min) * sigmoid(z))``.

Outputs: the K = 32 global per-location parameters of :class:`qec.NoiseModel` in field order
(reset_flip, measure_flip, gate1[3], cnot[15], idle[3], idle_gate1[3], idle_measure[3],
data_round_start[3]) -- the paper's 25 plus the single-qubit-layer and round-start channels our
model has. Not every direction is identifiable from syndromes; the loss only looks at what
the syndromes can see, so unidentifiable directions cost nothing.

Loss: mean over the graph's edges of (log p_e(q_pred) - log p_e(q_true))^2, where the implied
edge probabilities are p_e(q) = (1 - exp(-A q)) / 2 with A (E x K) the first-order response of
edge e's theta = -log(1 - 2 p_e) to parameter k (from stim DEMs with one parameter on at a
time). Relative (log) error, because matching weights are log-probabilities.

Encoding: channels (X checks of round t, Z checks of round t, X of t+1, Z of t+1) on the
(d+1)x(d+1) plaquette grid of :class:`qec.Geometry`, t = the middle bulk round.
Because pooling is global, the network runs at any distance; it predicts one global noise
model, so it cannot represent per-qubit variation (the correlation estimator can).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from noise.structure import NoiseStructure
from qec import (
    Geometry,
    InputError,
    MatchingGraph,
    NoiseModel,
    Task,
    atomic_write,
    sample_detectors,
    unpack_bits,
)
from qec.schedule import warmup_cosine

_CHANNELS = (("reset_flip", 1), ("measure_flip", 1), ("gate1", 3), ("cnot", 15), ("idle", 3),
             ("idle_gate1", 3), ("idle_measure", 3), ("data_round_start", 3))
NUM_PARAMS = sum(n for _, n in _CHANNELS)


@dataclass(frozen=True)
class LearnedConfig:
    """Architecture of the learned estimator (the paper's by default)."""

    widths: tuple[int, ...] = (128, 256, 256, 128)
    mlp: tuple[int, ...] = (128, 256, 128)
    groups: int = 8
    q_min: float = 1e-6
    q_max: float = 0.05

    def __post_init__(self) -> None:
        if not self.widths or any(w % self.groups for w in self.widths):
            raise InputError(f"widths={self.widths} must be non-empty multiples of "
                             f"groups={self.groups}")
        if not 0 < self.q_min < self.q_max < 1:
            raise InputError(f"q_min={self.q_min}, q_max={self.q_max} must satisfy "
                             "0 < q_min < q_max < 1")


@dataclass(frozen=True, kw_only=True)
class LearnedTrainConfig:
    """Training of the learned estimator: one distance, random global noise models."""

    distance: int = 5
    shots_per_model: int = 256
    steps: int = 400
    max_seconds: float = 300.0
    lr: float = 1e-3
    p_low: float = 0.001
    p_high: float = 0.008
    jitter: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.distance < 3 or self.distance % 2 == 0:
            raise InputError(f"distance={self.distance} must be an odd integer >= 3")
        for name in ("shots_per_model", "steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be >= 1")
        if not (self.max_seconds > 0 and self.lr > 0 and self.jitter >= 0 and self.seed >= 0):
            raise InputError(f"max_seconds={self.max_seconds} and lr={self.lr} must be > 0, "
                             f"jitter={self.jitter} and seed={self.seed} >= 0")
        if not 0 < self.p_low <= self.p_high < 0.5:
            raise InputError(f"p_low={self.p_low}, p_high={self.p_high} must satisfy "
                             "0 < p_low <= p_high < 0.5")


def params_of(noise: NoiseModel) -> np.ndarray:
    """(K,) the global per-location parameters of ``noise`` (multipliers ignored).

    Examples:
        >>> params_of(NoiseModel.uniform(0.003))[:2].round(6).tolist()
        [0.002, 0.002]
    """
    out = []
    for name, n in _CHANNELS:
        value = getattr(noise, name)
        out.extend([value] if n == 1 else list(value))
    return np.array(out, dtype=float)


def noise_of(params: np.ndarray, *, name: str = "learned") -> NoiseModel:
    """The :class:`qec.NoiseModel` with global parameters ``params`` (K,)."""
    params = np.asarray(params, dtype=float)
    if params.shape != (NUM_PARAMS,):
        raise InputError(f"params has shape {params.shape}; expected ({NUM_PARAMS},)")
    kw, k = {}, 0
    for field_name, n in _CHANNELS:
        kw[field_name] = float(params[k]) if n == 1 else tuple(params[k:k + n].tolist())
        k += n
    return NoiseModel(name=name, p=float(np.max(params)), **kw)


def edge_response(task: Task, structure: NoiseStructure, *, eps: float = 1e-4) -> np.ndarray:
    """(E, K) d theta_e / d q_k on ``structure``'s edges, one stim DEM per parameter."""
    key = {tuple(e): k for k, e in enumerate(structure.graph.edge_dets.tolist())}
    out = np.zeros((structure.num_edges, NUM_PARAMS))
    for k in range(NUM_PARAMS):
        unit = np.zeros(NUM_PARAMS)
        unit[k] = eps
        one = Task(distance=task.distance, rounds=task.rounds, basis=task.basis,
                   noise=noise_of(unit))
        g = MatchingGraph.from_dem(one.dem())
        for e, p in zip(g.edge_dets.tolist(), g.edge_prob.tolist()):
            if tuple(e) in key:
                out[key[tuple(e)], k] = -np.log(1 - 2 * p) / eps
    return out


def encode_rounds(dets_bit_packed: np.ndarray, geometry: Geometry) -> np.ndarray:
    """(S, ceil(D/8)) packed events -> (S, 4, H, W) float32, two middle bulk rounds."""
    grid = geometry.to_grid(unpack_bits(dets_bit_packed, geometry.num_detectors))  # (S,T,H,W)
    t = max(1, geometry.shape[0] // 2 - 1)
    if t + 1 >= geometry.shape[0] - 1:
        raise InputError(f"rounds={geometry.rounds} leaves no two bulk rounds; need >= 3")
    x_mask = (geometry.x_present).astype(np.uint8)
    z_mask = geometry.z_present.astype(np.uint8)
    pair = grid[:, t:t + 2]  # (S, 2, H, W)
    chans = [pair[:, 0] * x_mask, pair[:, 0] * z_mask, pair[:, 1] * x_mask, pair[:, 1] * z_mask]
    return np.stack(chans, axis=1).astype(np.float32)  # (S, 4, H, W)


def build_model(config: LearnedConfig):
    """The network: (S, 4, H, W) -> (K,) logits averaged over the S shots."""
    import torch
    from torch import nn

    class NoiseCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, c_in = [], 4
            for w in config.widths:
                layers += [nn.Conv2d(c_in, w, 3, padding=1), nn.GroupNorm(config.groups, w),
                           nn.GELU()]
                c_in = w
            self.cnn = nn.Sequential(*layers)
            mlp, m_in = [], c_in
            for w in config.mlp[1:]:
                mlp += [nn.Linear(m_in, w), nn.GELU()]
                m_in = w
            self.mlp = nn.Sequential(*mlp, nn.Linear(m_in, NUM_PARAMS))

        def shot_logits(self, x: torch.Tensor) -> torch.Tensor:
            h = self.cnn(x)  # (S, C, H, W)
            return self.mlp(h.mean(dim=(2, 3)))  # (S, K)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.shot_logits(x).mean(dim=0)  # (K,)

    return NoiseCNN()


def bounded_probs(logits, config: LearnedConfig):
    """Logits -> q in [q_min, q_max], log-space (torch)."""
    import torch

    lo, hi = np.log(config.q_min), np.log(config.q_max)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(logits))


def random_training_noise(rng: np.random.Generator, config: LearnedTrainConfig) -> NoiseModel:
    """A random global noise model: uniform- or si1000-shaped, strength and jitter random."""
    p = float(np.exp(rng.uniform(np.log(config.p_low), np.log(config.p_high))))
    shape = params_of(NoiseModel.uniform(p) if rng.random() < 0.5 else NoiseModel.si1000(p))
    shape = np.where(shape > 0, shape, p / 30)  # every channel on, weakly if off
    return noise_of(shape * np.exp(rng.normal(0, config.jitter, NUM_PARAMS)), name="train")


@dataclass(frozen=True, kw_only=True)
class LearnedTrainResult:
    """The trained model's state, configs and the loss history."""

    state: dict
    config: LearnedConfig
    train: LearnedTrainConfig
    steps: int
    seconds: float
    losses: tuple[float, ...]

    def metadata(self) -> dict:
        return {"model": json.dumps(asdict(self.config)), "train": json.dumps(asdict(self.train)),
                "steps": str(self.steps), "seconds": f"{self.seconds:.1f}"}


def train_learned(config: LearnedConfig, train_config: LearnedTrainConfig, *, progress=None,
                  init_state: dict | None = None) -> LearnedTrainResult:
    """Train on random global noise models at ``train_config.distance`` (CPU, bounded; the
    caller chooses torch's thread count).

    ``init_state`` continues from earlier weights (e.g. :func:`load_result`'s state).
    """
    import torch

    torch.manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    base = Task(distance=train_config.distance, noise=NoiseModel.uniform(0.001))
    structure = NoiseStructure.from_task(base)
    response = torch.tensor(edge_response(base, structure), dtype=torch.float32)  # (E, K)
    geometry = Geometry.from_circuit(base.circuit())
    model = build_model(config)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=1e-4)
    losses, t0, step = [], time.perf_counter(), 0
    while step < train_config.steps and time.perf_counter() - t0 < train_config.max_seconds:
        noise = random_training_noise(rng, train_config)
        task = Task(distance=train_config.distance, noise=noise)
        chunk = next(sample_detectors(task.circuit(), shots=train_config.shots_per_model,
                                      seed=int(rng.integers(2**31))))
        x = torch.from_numpy(encode_rounds(chunk.dets, geometry))
        q_true = torch.tensor(params_of(noise), dtype=torch.float32)
        for g in opt.param_groups:  # cosine decay over the step budget
            g["lr"] = warmup_cosine(step, total=train_config.steps, peak=train_config.lr)
        q = bounded_probs(model(x), config)
        loss = edge_log_loss(q, q_true, response)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if progress is not None:
            progress(step, losses[-1])
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return LearnedTrainResult(state=state, config=config, train=train_config, steps=step,
                              seconds=time.perf_counter() - t0, losses=tuple(losses))


def edge_log_loss(q, q_true, response):
    """Mean squared log-ratio of implied edge probabilities (torch)."""
    import torch

    p_pred = (1 - torch.exp(-(response @ q))) / 2
    p_true = (1 - torch.exp(-(response @ q_true))) / 2
    return torch.mean((torch.log(p_pred + 1e-7) - torch.log(p_true + 1e-7)) ** 2)


def predict_noise(result_state: dict, config: LearnedConfig, chunks, geometry: Geometry, *,
                  batch_shots: int = 512) -> tuple[NoiseModel, int]:
    """Average the per-shot logits over every shot of ``chunks``; return (noise, shots)."""
    import torch

    model = build_model(config)
    model.load_state_dict(result_state)
    model.eval()
    total, shots = torch.zeros(NUM_PARAMS), 0
    with torch.no_grad():
        for chunk in chunks:
            dets = getattr(chunk, "dets", chunk)
            for start in range(0, dets.shape[0], batch_shots):
                x = torch.from_numpy(encode_rounds(dets[start:start + batch_shots], geometry))
                total += model.shot_logits(x).sum(dim=0)
                shots += x.shape[0]
    if shots == 0:
        raise InputError("chunks held no shots")
    q = bounded_probs(total / shots, config).numpy().astype(float)
    return noise_of(q), shots


def save_result(result: LearnedTrainResult, path) -> None:
    """safetensors (never pickle), float16 weights, configs in the metadata."""
    from safetensors.torch import save

    atomic_write(path, save({k: v.half().contiguous() for k, v in result.state.items()},
                            metadata=result.metadata()))


def load_result(path) -> tuple[dict, LearnedConfig]:
    """(state, config) from :func:`save_result`'s file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    cfg = json.loads(meta["model"])
    names = {f.name for f in fields(LearnedConfig)}
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k in names}
    return state, LearnedConfig(**cfg)
