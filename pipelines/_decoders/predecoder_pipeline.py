"""The composed decoders: AI pre-decoder, then a global matcher on the residual.

prediction = matcher(residual) XOR flip, where the pre-decoder commits edges of the task's
decomposed DEM, residual = dets XOR syndrome(edges) (stim's order and length) and flip =
observables(edges). Two modes (``predecoder.CommitPolicy``):

- ``predecoder+pymatching[-correlated]`` (hard, the speed mode): commit edges above the
  model's calibrated threshold; PyMatching built from the ORIGINAL DEM (or the ``dem``
  override, e.g. learned weights on the same detectors) decodes the residual;
- ``predecoder+soft-matching`` (soft, the accuracy mode): commit every edge with logit > 0;
  the per-shot-weight matcher (:class:`qec.BlossomMatcher`) decodes the residual with weights
  |logit|, so it can undo the network's mistakes.

Shots go through in micro-batches of at most ``predecoder.inference.MAX_CELLS`` grid cells, so
memory is bounded for any chunk size. Bits reach the device and come back bit-packed
(``predecoder.device_bits``: CuPy on CUDA, numpy through ``qec.bits`` on the CPU).

Examples:
    >>> from qec import Task, NoiseModel, sample_detectors
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.003))
    >>> dec = PredecoderPipeline.from_task(task, model="small", mode="soft")
    >>> chunk = next(sample_detectors(task.circuit(), shots=100, seed=0))
    >>> dec.name, dec.decode_batch(chunk.dets).shape, sorted(dec.metrics())
    ... # doctest: +NORMALIZE_WHITESPACE
    ('predecoder+soft-matching', (100, 1),
     ['matching_us_per_round', 'predecoder_us_per_round', 'residual_density', 'sdr'])
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import stim

from qec import (
    NOISE_NAMES,
    BlossomMatcher,
    InputError,
    MatchingDecoder,
    StageStats,
    Task,
    popcount_rows,
)

log = logging.getLogger(__name__)
HARD_DECODERS = ("predecoder+pymatching", "predecoder+pymatching-correlated")
SOFT_DECODERS = ("predecoder+soft-matching",)
PREDECODER_DECODERS = HARD_DECODERS + SOFT_DECODERS


def warn_if_other_noise(loaded, noise: str | None, *, whose: str) -> bool:
    """Log a warning (and return True) when ``loaded`` (a ``predecoder.LoadedModel``) was
    trained on another noise family than ``noise``, the family of ``whose`` ("the task's",
    "the circuit's"); ``noise`` None: a circuit whose noise is none of qecpipe's families."""
    trained_on = loaded.noise_family
    if trained_on is None or trained_on == noise:
        return False
    if noise is None:
        log.warning("the pre-decoder model %s was trained on %s noise; %s noise is none of "
                    "qecpipe's families (%s): expect less gain than on its own noise",
                    loaded.path.name, trained_on, whose, ", ".join(NOISE_NAMES))
    else:
        log.warning("the pre-decoder model %s was trained on %s noise, not on %s %s noise: "
                    "expect less gain (train one with `qecpipe train --noise %s`)",
                    loaded.path.name, trained_on, whose, noise, noise)
    return True


def mode_of(name: str) -> str:
    """'hard' or 'soft': the commit mode of pre-decoder decoder ``name``."""
    if name not in PREDECODER_DECODERS:
        raise InputError(f"decoder={name!r} is not a pre-decoder decoder; choose one of "
                         f"{', '.join(PREDECODER_DECODERS)}")
    return "soft" if name in SOFT_DECODERS else "hard"


class PredecoderPipeline:
    """A pre-decoder decoder (see the module docstring) for one task.

    Build with :meth:`from_task` or :meth:`from_dem`. ``decode_batch`` takes (shots,
    ceil(D/8)) uint8 bit-packed detectors and returns (shots, ceil(O/8)) uint8 bit-packed
    predictions; ``metrics()`` reports per-stage µs per round, residual density and SDR
    accumulated over all calls.
    """

    def __init__(self, *, name: str, layout, loaded, policy, matcher, device: str,
                 tile: tuple[int, int, int] | None = None) -> None:
        self.name = name
        self.layout = layout            # predecoder.EdgeLayout: geometry + matching graph
        self.rounds = layout.geometry.rounds
        self.loaded = loaded
        self.policy = policy            # predecoder.CommitPolicy
        self.matcher = matcher          # MatchingDecoder (hard) or BlossomMatcher (soft)
        self.device = device
        self.tile = tile
        geometry = layout.geometry
        empty = StageStats(rounds=self.rounds, num_detectors=geometry.num_detectors)
        self.network_stage, self.matching_stage = empty, empty

    @classmethod
    def from_task(cls, task: Task, *, model: str | Path | None = None, mode: str = "hard",
                  correlated: bool = False, dem: stim.DetectorErrorModel | None = None,
                  device: str = "cpu", tile: tuple[int, int, int] | None = None,
                  policy=None) -> PredecoderPipeline:
        """The composed decoder with weights ``model`` (preset name or path; default shipped).

        The pre-decoder's edges come from the task's own circuit and decomposed DEM; a hard
        mode matcher from ``dem`` when given (same detectors), else the task's DEM. ``policy``
        overrides the model's calibrated :class:`predecoder.CommitPolicy` of ``mode``.
        """
        from predecoder.edges import EdgeLayout

        built = cls._build(EdgeLayout.from_task(task), task.dem() if dem is None else dem,
                           model=model, mode=mode, correlated=correlated, device=device,
                           tile=tile, policy=policy)
        warn_if_other_noise(built.loaded, task.noise.name, whose="the task's")
        return built

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, model: str | Path | None = None,
                 mode: str = "hard", correlated: bool = False,
                 device: str = "cpu") -> PredecoderPipeline:
        """Build from a circuit's decomposed DEM alone (what sinter hands over): the layout
        comes from the DEM's DETECTOR(x, y, t) coordinates via :meth:`qec.Geometry.from_dem`."""
        from predecoder.edges import EdgeLayout
        from qec import Geometry, MatchingGraph

        layout = EdgeLayout.build(Geometry.from_dem(dem), MatchingGraph.from_dem(dem))
        return cls._build(layout, dem, model=model, mode=mode, correlated=correlated,
                          device=device)

    @classmethod
    def _build(cls, layout, dem: stim.DetectorErrorModel, *, model, mode: str,
               correlated: bool, device: str, tile: tuple[int, int, int] | None = None,
               policy=None) -> PredecoderPipeline:
        from predecoder.weights import load_model

        loaded = load_model(model, device=device)
        policy = loaded.policy(mode) if policy is None else policy
        if policy.mode != mode:
            raise InputError(f"policy {policy.describe()} does not match mode={mode!r}")
        if policy.soft_mode:
            if correlated:
                raise InputError("soft mode has no correlated variant")
            matcher = BlossomMatcher.from_graph(layout.graph, cap=policy.cap)
            name = SOFT_DECODERS[0]
        else:
            matcher = MatchingDecoder.from_dem(dem, correlated=correlated)
            name = HARD_DECODERS[1] if correlated else HARD_DECODERS[0]
            if not loaded.calibrated:
                log.warning("the hard-mode threshold of %s (logit > %g) was never calibrated; "
                            "run `qecpipe calibrate %s` (soft mode needs no threshold)",
                            loaded.path.name, policy.threshold, loaded.path)
        return cls(name=name, layout=layout, loaded=loaded, policy=policy, matcher=matcher,
                   device=device, tile=tile)

    def predecode(self, dets_bit_packed: np.ndarray):
        """Packed dets (one micro-batch) -> ``predecoder.Corrections`` (tensors on device)."""
        from predecoder.inference import predecode

        with _autocast(self.device):
            return predecode(self.loaded.net, dets_bit_packed, self.layout, policy=self.policy,
                             tile=self.tile)

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(S, ceil(D/8)) uint8 packed detectors -> (S, ceil(O/8)) uint8 packed predictions."""
        from predecoder.inference import MAX_CELLS

        per_batch = max(1, MAX_CELLS // int(np.prod(self.layout.shape)))
        parts = [self._decode_micro(dets_bit_packed[s:s + per_batch])
                 for s in range(0, dets_bit_packed.shape[0], per_batch)]
        if not parts:
            return np.zeros((0, (self.layout.graph.num_observables + 7) // 8), dtype=np.uint8)
        return np.concatenate(parts)

    def _decode_micro(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        corr = self.predecode(dets_bit_packed)
        residual, flip = corr.residual_bit_packed, corr.flip_bit_packed
        t1 = time.perf_counter()
        if self.policy.soft_mode:
            predicted = self.matcher.decode_batch(residual, corr.weights) ^ flip
        else:
            predicted = self.matcher.decode_batch(residual) ^ flip
        t2 = time.perf_counter()
        shots, rounds = residual.shape[0], self.rounds
        num_det = self.layout.geometry.num_detectors
        events_in, events_out = int(popcount_rows(dets_bit_packed).sum()), int(
            corr.residual.sum())
        self.network_stage += StageStats(shots=shots, rounds=rounds, num_detectors=num_det,
                                         seconds=t1 - t0, events_in=events_in,
                                         events_out=events_out)
        self.matching_stage += StageStats(shots=shots, rounds=rounds, num_detectors=num_det,
                                          seconds=t2 - t1, events_in=events_out)
        return predicted

    def metrics(self) -> dict:
        """Accumulated over all calls: predecoder_us_per_round, matching_us_per_round,
        residual_density, sdr (``qec.StageStats`` of the two stages)."""
        return {"predecoder_us_per_round": self.network_stage.us_per_round,
                "matching_us_per_round": self.matching_stage.us_per_round,
                "residual_density": self.network_stage.density_out,
                "sdr": self.network_stage.sdr}


def _autocast(device: str):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
