"""The layered decoder: two fast decoders vote, a referee settles what they dispute.

The network runs once per shot. Correlated PyMatching (on the raw syndrome) and the
pre-decoder's soft mode (on the network's logits) decode every shot; where they predict the
same observable flips that is the answer. The contested shots (about 2 % at p = 0.006) go to
the referees, in layers:

- ``ensemble``: a harmonized ensemble of soft matchers on the SAME network output (Harmony,
  arXiv:2401.12434), each member matching with perturbed weights
  ``l' = (1 - prior_mix) * l / temperature + prior_mix * prior + noise * N(0, 1)``
  (l = the edge's logit, prior = the DEM's log-odds ``log(p / (1 - p))``), capped at ``cap``.
  The answer is the majority vote of the members (an odd number; soft and correlated
  PyMatching, one vote each and opposed on a contested shot, cancel out). Voting rather than
  likelihood: under the network's own per-edge marginals, soft mode's answer is the
  most likely by construction, so a likelihood under that model would always side with soft.
  Temperature and cap are one knob without a prior (cap c at temperature T matches like cap
  c * T); perturbing the logits alone mostly repeats soft mode's answer, so the default
  members vary the prior mix (see ``DEFAULT_MEMBERS``). On the ladder (bench/layered.py) the
  ensemble was barely better than soft mode (d = 5, p = 0.006: 1.05x fewer errors than
  correlated PyMatching, belief-matching 1.13x), so no registered decoder uses it;
- ``beliefmatching`` / ``tesseract`` / ``tesseract-short`` (:mod:`qec.referees`): decoders on
  the circuit's DEM, optional packages. After an ensemble layer, only the shots the ensemble
  does not decide unanimously go on.

``budget_seconds`` bounds the referees' time per ``decode_batch`` call: shots the referees do
not reach in time keep the answer of the layer before (the soft answer before the first),
and are counted (``metrics()['over_budget_shots']``).

Examples:
    >>> from qec import Task, NoiseModel, sample_detectors
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    >>> dec = ConsensusDecoder.from_task(task, referees=("beliefmatching",), model="small")
    >>> chunk = next(sample_detectors(task.circuit(), shots=200, seed=0))
    >>> dec.name, dec.decode_batch(chunk.dets).shape
    ('predecoder+consensus', (200, 1))
    >>> 0 <= dec.metrics()["referred_shots"] <= 200
    True
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import stim

from pipelines._decoders.predecoder_pipeline import PredecoderPipeline
from qec import (
    BlossomMatcher,
    InputError,
    MatchingDecoder,
    Task,
    check_packed,
    pack_bits,
    unpack_bits,
    weight_of_prob,
)
from qec.referees import (
    REFEREE_NAMES,
    Referee,
    decide_within,
    make_referee,
    referee_within_budget,
    require_package,
)

# decoder name -> referee layers: the referees that earned a name (bench/results/layered.md);
# the ensemble (alone or as a first layer) did not, and stays a layer of the Python API.
CONSENSUS_REFEREES = {
    "predecoder+consensus": ("beliefmatching",),
    "predecoder+consensus-tesseract": ("tesseract-short",),
}
CONSENSUS_DECODERS = tuple(CONSENSUS_REFEREES)
LAYER_NAMES = ("ensemble", *REFEREE_NAMES)


@dataclass(frozen=True, kw_only=True)
class Perturbation:
    """One ensemble member's weights (see the module docstring).

    Examples:
        >>> Perturbation(cap=4.0).label
        'cap4'
        >>> Perturbation(prior_mix=1.5)
        Traceback (most recent call last):
        ...
        qec.errors.InputError: prior_mix=1.5 must be in [0, 1)
    """

    cap: float = 8.0
    temperature: float = 1.0
    prior_mix: float = 0.0
    noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("cap", "temperature"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"{name}={value!r} must be a finite number > 0")
        if not 0 <= self.prior_mix < 1:
            raise InputError(f"prior_mix={self.prior_mix!r} must be in [0, 1)")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise InputError(f"noise={self.noise!r} must be a finite number >= 0")

    @property
    def label(self) -> str:
        parts = [f"cap{self.cap:g}"]
        if self.temperature != 1:
            parts.append(f"T{self.temperature:g}")
        if self.prior_mix:
            parts.append(f"prior{self.prior_mix:g}")
        if self.noise:
            parts.append(f"noise{self.noise:g}s{self.seed}")
        return "/".join(parts)

    def apply(self, logits: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """(S, E) logits -> (S, E) perturbed logits (``prior``: (E,) DEM log-odds)."""
        out = (1 - self.prior_mix) * logits / self.temperature + self.prior_mix * prior
        if self.noise:
            out = out + self.noise * np.random.default_rng(self.seed).standard_normal(out.shape)
        return out.astype(np.float32)


# Mixtures of the network's logits with the DEM's prior, three weights and two noisy copies.
# Chosen on an exploration sample (d = 5, p = 0.006, 6,000 shots, seed 11; not the bench's
# shots): on its 126 contested shots pure-logit members (cap 4 or 16, noise only) sided with
# soft mode on 107-126 of them and were wrong as often (49-58 vs 55), while prior mixes of
# 0.3 / 0.5 / 0.7 were wrong on 46 / 43 / 39, and this five-member vote on 38. On the
# ladder's own shots (seed 2301, 834 contested at d = 5) that gain did not hold: 377 wrong,
# soft mode 395, belief-matching 284.
DEFAULT_MEMBERS = (Perturbation(prior_mix=0.3), Perturbation(prior_mix=0.5),
                   Perturbation(prior_mix=0.7), Perturbation(prior_mix=0.5, noise=0.5, seed=1),
                   Perturbation(prior_mix=0.5, noise=0.5, seed=2))


@dataclass
class LayerStats:
    """One referee layer's work, accumulated over calls."""

    shots: int = 0            # shots it was given
    decided: int = 0          # shots it answered (the rest: over budget)
    seconds: float = 0.0


@dataclass
class FirstPass:
    """One batch after the network, soft mode and correlated PyMatching (S shots)."""

    dets: np.ndarray          # (S, D) bool
    logits: np.ndarray        # (S, E) float32 edge logits
    soft: np.ndarray          # (S, O) bool soft mode's answer
    correlated: np.ndarray    # (S, O) bool correlated PyMatching's answer
    seconds: dict = field(default_factory=dict)   # network, soft, correlated

    @property
    def contested(self) -> np.ndarray:
        """Indices of the shots where soft mode and correlated PyMatching disagree."""
        return np.flatnonzero((self.soft != self.correlated).any(axis=1))


class SoftEnsemble:
    """Soft matchers with perturbed weights on the network's logits (see the module docstring).

    Args:
        layout: the pre-decoder's ``predecoder.EdgeLayout`` (graph and geometry).
        members: the perturbations, an odd number >= 1.
    """

    def __init__(self, layout, members: tuple[Perturbation, ...] = DEFAULT_MEMBERS) -> None:
        if len(members) < 1 or len(members) % 2 == 0:
            raise InputError(f"members has {len(members)} perturbations; an odd number >= 1 "
                             "makes a majority vote decisive")
        self.layout, self.members = layout, tuple(members)
        self.prior = weight_of_prob(layout.graph.edge_prob) * -1.0   # log(p / (1 - p))
        self._matchers = {m.cap: BlossomMatcher.from_graph(layout.graph, cap=m.cap)
                          for m in self.members}

    def prepare(self, dets: np.ndarray, logits: np.ndarray) -> list:
        """Every member's commits and per-shot weights for (S, D) dets and (S, E) logits."""
        import torch

        from predecoder.inference import CommitPolicy, corrections

        dets_t = torch.as_tensor(dets)
        return [corrections(torch.as_tensor(m.apply(logits, self.prior)), dets_t, self.layout,
                            CommitPolicy.soft(m.cap)) for m in self.members]

    def votes(self, prepared: list, shot: int) -> np.ndarray:
        """(O,) int: how many members predict each observable flipped in shot ``shot``."""
        total = 0
        for member, corr in zip(self.members, prepared):
            residual = corr.residual[shot:shot + 1].numpy()
            flip = corr.flip[shot].numpy()
            pred = self._matchers[member.cap].decode_bool(residual, corr.weights.take([shot]))
            total = total + (pred[0] ^ flip).astype(np.int64)
        return total


class ConsensusDecoder:
    """The layered decoder (see the module docstring). Build with :meth:`from_task` or
    :meth:`from_dem`; ``decode_batch`` maps (S, ceil(D/8)) uint8 packed detectors to
    (S, ceil(O/8)) uint8 packed predictions; ``metrics()`` reports µs per shot of every stage,
    the share of shots referred and the shots over budget, accumulated over calls.
    """

    def __init__(self, *, name: str, soft: PredecoderPipeline, correlated: MatchingDecoder,
                 layers: tuple[str, ...], external: Mapping[str, Referee] | None = None,
                 budget_seconds: float | None = None,
                 members: tuple[Perturbation, ...] = DEFAULT_MEMBERS) -> None:
        external = dict(external or {})
        missing = [layer for layer in layers if layer != "ensemble" and layer not in external]
        if not layers or missing or "ensemble" in layers[1:] or len(set(layers)) != len(layers):
            raise InputError(f"layers={layers} must be distinct, non-empty, with the ensemble "
                             f"(if any) first and a referee for every other layer (missing: "
                             f"{missing})")
        if budget_seconds is not None and (isinstance(budget_seconds, bool) or not (
                np.isfinite(budget_seconds) and budget_seconds >= 0)):
            raise InputError(f"referee budget={budget_seconds!r} seconds per batch must be "
                             "a finite number >= 0")
        self.name, self.soft, self.correlated = name, soft, correlated
        self.layout, self.loaded, self.policy = soft.layout, soft.loaded, soft.policy
        self.layers, self.external, self.budget_seconds = tuple(layers), external, budget_seconds
        self.ensemble = SoftEnsemble(soft.layout, members) if "ensemble" in layers else None
        self.num_observables = soft.layout.graph.num_observables
        self.stage_seconds = {"network": 0.0, "soft": 0.0, "correlated": 0.0}
        self.layer_stats = {layer: LayerStats() for layer in layers}
        self.shots = self.contested = self.over_budget = 0

    @classmethod
    def from_task(cls, task: Task, *, referees: tuple[str, ...],
                  name: str = "predecoder+consensus", model: str | Path | None = None,
                  dem: stim.DetectorErrorModel | None = None, device: str = "cpu",
                  budget_seconds: float | None = None) -> ConsensusDecoder:
        """For ``task``: the pre-decoder on the task's layout; correlated PyMatching and the
        DEM referees on ``dem`` when given (same detectors), else the task's DEM."""
        _check_layers(referees)
        dem = task.dem() if dem is None else dem
        soft = PredecoderPipeline.from_task(task, model=model, mode="soft", device=device)
        return cls(name=name, soft=soft, correlated=MatchingDecoder.from_dem(dem, correlated=True),
                   layers=referees, external=_external(referees, dem),
                   budget_seconds=budget_seconds)

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, referees: tuple[str, ...],
                 name: str = "predecoder+consensus", model: str | Path | None = None,
                 budget_seconds: float | None = None, device: str = "cpu") -> ConsensusDecoder:
        """From a circuit's decomposed DEM alone (sinter, ``qecpipe decode``)."""
        _check_layers(referees)
        soft = PredecoderPipeline.from_dem(dem, model=model, mode="soft", device=device)
        return cls(name=name, soft=soft, correlated=MatchingDecoder.from_dem(dem, correlated=True),
                   layers=referees, external=_external(referees, dem),
                   budget_seconds=budget_seconds)

    def first_pass(self, dets_bit_packed: np.ndarray) -> FirstPass:
        """The network, soft mode and correlated PyMatching on every shot of a batch."""
        import torch

        from predecoder.inference import corrections, shot_logits

        num_det = self.layout.geometry.num_detectors
        check_packed(dets_bit_packed, num_det, "dets_bit_packed")
        t0 = time.perf_counter()
        dets = unpack_bits(dets_bit_packed, num_det)
        dets_t = torch.as_tensor(dets, device=self.soft.device)
        with torch.inference_mode():
            logits_t = shot_logits(self.loaded.net, dets_t, self.layout, tile=self.soft.tile)
        corr = corrections(logits_t, dets_t, self.layout, self.policy)
        t1 = time.perf_counter()
        soft = self.soft.matcher.decode_bool(corr.residual.cpu().numpy(), corr.weights)
        soft ^= corr.flip.cpu().numpy()
        t2 = time.perf_counter()
        correlated = unpack_bits(self.correlated.decode_batch(dets_bit_packed),
                                 self.num_observables)
        t3 = time.perf_counter()
        return FirstPass(dets=dets, logits=logits_t.float().cpu().numpy(), soft=soft,
                         correlated=correlated,
                         seconds={"network": t1 - t0, "soft": t2 - t1, "correlated": t3 - t2})

    def resolve(self, first: FirstPass) -> tuple[np.ndarray, int]:
        """The answers of a batch after its first pass: common answers where soft mode and
        correlated PyMatching agree, the referees' on the contested shots. Returns
        ((S, O) bool answers, shots the budget left undecided)."""
        answer = first.soft.copy()
        pending = first.contested
        deadline = None if self.budget_seconds is None else (
            time.perf_counter() + self.budget_seconds)
        undecided = 0
        for layer in self.layers:
            if pending.size == 0:
                break
            budget = None if deadline is None else max(0.0, deadline - time.perf_counter())
            decided, preds, sure = self._run_layer(layer, first, pending, budget)
            answer[pending[:decided]] = preds[:decided]
            stats = self.layer_stats[layer]
            undecided = pending.size - decided
            stats.shots, stats.decided = stats.shots + pending.size, stats.decided + decided
            pending = pending[:decided][~sure[:decided]]
        return answer, undecided

    def _run_layer(self, layer: str, first: FirstPass, pending: np.ndarray,
                   budget: float | None) -> tuple[int, np.ndarray, np.ndarray]:
        """(shots decided, (n, O) answers, (n,) bool: answer is sure) for ``pending``."""
        start = time.perf_counter()
        if layer == "ensemble":
            prepared = self.ensemble.prepare(first.dets[pending], first.logits[pending])
            half = len(self.ensemble.members) / 2
            counts = np.zeros((pending.size, self.num_observables), dtype=np.int64)

            def decide_one(s: int) -> np.ndarray:
                counts[s] = self.ensemble.votes(prepared, s)
                return counts[s] > half

            out = decide_within(pending.size, decide_one, num_observables=self.num_observables,
                                budget_seconds=budget)
            k = len(self.ensemble.members)
            sure = ((counts == 0) | (counts == k)).all(axis=1)
        else:
            out = referee_within_budget(self.external[layer], first.dets[pending],
                                        budget_seconds=budget)
            sure = np.ones(pending.size, dtype=bool)
        self.layer_stats[layer].seconds += time.perf_counter() - start
        return out.decoded, out.predictions, sure

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(S, ceil(D/8)) uint8 packed detectors -> (S, ceil(O/8)) uint8 packed predictions."""
        first = self.first_pass(dets_bit_packed)
        answer, undecided = self.resolve(first)
        for stage, seconds in first.seconds.items():
            self.stage_seconds[stage] += seconds
        self.shots += first.dets.shape[0]
        self.contested += first.contested.size
        self.over_budget += undecided
        return pack_bits(answer)

    def metrics(self) -> dict[str, float]:
        """Accumulated over calls: µs per shot of each stage (network, soft, correlated, each
        referee layer; the referee's amortised over all shots), the share referred, shots
        over budget."""
        per_shot = 1e6 / max(1, self.shots)
        out = {"referred_shots": float(self.contested),
               "referred_share": self.contested / max(1, self.shots),
               "over_budget_shots": float(self.over_budget)}
        for stage, seconds in self.stage_seconds.items():
            out[f"{stage}_us_per_shot"] = seconds * per_shot
        for layer, stats in self.layer_stats.items():
            out[f"referee_{layer}_us_per_shot"] = stats.seconds * per_shot
            out[f"referee_{layer}_shots"] = float(stats.shots)
        out["us_per_shot"] = per_shot * (sum(self.stage_seconds.values()) + sum(
            s.seconds for s in self.layer_stats.values()))
        return out


def _external(referees: tuple[str, ...], dem: stim.DetectorErrorModel) -> dict[str, Referee]:
    """The DEM referees of the layers ``referees`` (all but the ensemble)."""
    return {r: make_referee(r, dem) for r in referees if r != "ensemble"}


def _check_layers(referees: tuple[str, ...]) -> None:
    """Referee layers must be known, not repeated, with the ensemble (if any) first; the
    optional packages they need must be installed (one clear error otherwise)."""
    if not referees:
        raise InputError("referees=() must name at least one referee layer")
    for layer in referees:
        if layer not in LAYER_NAMES:
            raise InputError(f"referee={layer!r} is unknown; choose from "
                             f"{', '.join(LAYER_NAMES)}")
        if layer != "ensemble":
            require_package(layer)
    if len(set(referees)) != len(referees) or "ensemble" in referees[1:]:
        raise InputError(f"referees={referees} must not repeat a layer and may have the "
                         "ensemble only first")
