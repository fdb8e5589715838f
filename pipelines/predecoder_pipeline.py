"""The composed decoder: AI pre-decoder, then PyMatching on the residual.

prediction = matcher(residual) XOR flip, where the pre-decoder commits edges of the task's
decomposed DEM, residual = dets XOR syndrome(edges) (stim's order and length) and flip =
observables(edges); the matcher is built from the ORIGINAL DEM (or the ``dem`` override,
e.g. learned weights on the same detectors).

On CUDA the bits stay on the GPU: stim's packed bytes go over, CuPy unpacks them and hands
them to torch through DLPack (zero-copy), the residual is packed there, and only packed bytes
come back. Without CuPy (or on CPU) numpy does the same.

Examples:
    >>> from qec import Task, NoiseModel, sample_detectors
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.003))
    >>> dec = PredecoderPipeline.from_task(task, model="small")
    >>> chunk = next(sample_detectors(task.circuit(), shots=100, seed=0))
    >>> dec.decode_batch(chunk.dets).shape, sorted(dec.metrics())
    ((100, 1), ['matching_us_per_round', 'predecoder_us_per_round', 'residual_density', 'sdr'])
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import stim

from qec import MatchingDecoder, Task, check_packed

PREDECODER_DECODERS = ("predecoder+pymatching", "predecoder+pymatching-correlated")


class PredecoderPipeline:
    """Batch decoder ``predecoder+pymatching[-correlated]`` for one task.

    Build with :meth:`from_task`. ``decode_batch`` takes (shots, ceil(D/8)) uint8 bit-packed
    detectors and returns (shots, ceil(O/8)) uint8 bit-packed predictions; ``metrics()``
    reports per-stage µs per round, residual density and SDR accumulated over all calls.
    """

    def __init__(self, *, name: str, layout, loaded, matcher: MatchingDecoder, device: str,
                 threshold: float, rule: str, tile: tuple[int, int, int] | None = None) -> None:
        self.name = name
        self.layout = layout            # predecoder.EdgeLayout: geometry + matching graph
        self.rounds = layout.geometry.rounds
        self.loaded = loaded
        self.matcher = matcher
        self.device = device
        self.threshold = threshold
        self.rule = rule
        self.tile = tile
        self._totals = np.zeros(5)   # shots, events in, events out, pre seconds, PM seconds

    @classmethod
    def from_task(cls, task: Task, *, model: str | Path | None = None,
                  correlated: bool = False, dem: stim.DetectorErrorModel | None = None,
                  device: str = "cpu", threshold: float | None = None,
                  rule: str | None = None,
                  tile: tuple[int, int, int] | None = None) -> PredecoderPipeline:
        """The composed decoder with weights ``model`` (preset name or path; default shipped).

        The pre-decoder's edges come from the task's own circuit and decomposed DEM; the
        global matcher from ``dem`` when given (same detectors), else the task's DEM.
        """
        from predecoder.edges import EdgeLayout

        return cls._build(EdgeLayout.from_task(task), task.dem() if dem is None else dem,
                          model=model, correlated=correlated, device=device,
                          threshold=threshold, rule=rule, tile=tile)

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, model: str | Path | None = None,
                 correlated: bool = False, device: str = "cpu") -> PredecoderPipeline:
        """Build from a circuit's decomposed DEM alone (what sinter hands over): the layout
        comes from the DEM's DETECTOR(x, y, t) coordinates via :meth:`qec.Geometry.from_dem`."""
        from predecoder.edges import EdgeLayout
        from qec import Geometry, MatchingGraph

        layout = EdgeLayout.build(Geometry.from_dem(dem), MatchingGraph.from_dem(dem))
        return cls._build(layout, dem, model=model, correlated=correlated, device=device)

    @classmethod
    def _build(cls, layout, dem: stim.DetectorErrorModel, *, model, correlated: bool,
               device: str, threshold: float | None = None, rule: str | None = None,
               tile: tuple[int, int, int] | None = None) -> PredecoderPipeline:
        from predecoder.weights import load_model

        loaded = load_model(model, device=device)
        name = PREDECODER_DECODERS[1] if correlated else PREDECODER_DECODERS[0]
        return cls(name=name, layout=layout, loaded=loaded,
                   matcher=MatchingDecoder.from_dem(dem, correlated=correlated), device=device,
                   threshold=loaded.threshold if threshold is None else threshold,
                   rule=loaded.rule if rule is None else rule, tile=tile)

    def predecode(self, dets_bit_packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed dets -> (packed residual (S, ceil(D/8)), packed flip (S, ceil(O/8)))."""
        from predecoder.inference import predecode

        num_det = self.layout.geometry.num_detectors
        dets_bit_packed = check_packed(dets_bit_packed, num_det, "dets_bit_packed")
        dets = _unpack(dets_bit_packed, num_det, self.device)
        autocast = _autocast(self.device)
        with autocast:
            corr = predecode(self.loaded.net, dets, self.layout, threshold=self.threshold,
                             rule=self.rule, tile=self.tile)
        self._totals[1] += float(dets.sum())
        self._totals[2] += float(corr.residual.sum())
        return _pack(corr.residual), _pack(corr.flip)

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(S, ceil(D/8)) uint8 packed detectors -> (S, ceil(O/8)) uint8 packed predictions."""
        t0 = time.perf_counter()
        residual, flip = self.predecode(dets_bit_packed)
        t1 = time.perf_counter()
        predicted = self.matcher.decode_batch(residual) ^ flip
        self._totals += [residual.shape[0], 0, 0, t1 - t0, time.perf_counter() - t1]
        return predicted

    def metrics(self) -> dict:
        """Accumulated: predecoder_us_per_round, matching_us_per_round, residual_density, sdr."""
        shots, before, after, pre_s, pm_s = self._totals
        rounds = max(shots * self.rounds, 1)
        cells = max(shots * self.layout.geometry.num_detectors, 1)
        return {"predecoder_us_per_round": pre_s / rounds * 1e6,
                "matching_us_per_round": pm_s / rounds * 1e6,
                "residual_density": after / cells,
                "sdr": before / after if after else float("inf")}


def _autocast(device: str):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))


def _unpack(packed: np.ndarray, num_bits: int, device: str):
    """Packed uint8 (S, ceil(n/8)) -> torch bool (S, n) on ``device`` (CuPy on CUDA if present)."""
    import torch

    if device.startswith("cuda"):
        cupy = _cupy()
        if cupy is not None:
            bits = cupy.unpackbits(cupy.asarray(packed).reshape(-1), bitorder="little")
            bits = bits.reshape(packed.shape[0], -1)[:, :num_bits]   # (S, n) uint8 on GPU
            return torch.from_dlpack(cupy.ascontiguousarray(bits)).bool()
        packed_t = torch.from_numpy(packed).to(device)
        shifts = torch.arange(8, device=device, dtype=torch.uint8)
        bits = (packed_t.unsqueeze(-1) >> shifts) & 1                 # (S, B, 8) little-endian
        return bits.reshape(packed.shape[0], -1)[:, :num_bits].bool()
    return torch.from_numpy(np.unpackbits(packed, axis=1, count=num_bits, bitorder="little")
                            .astype(bool))


def _pack(bits) -> np.ndarray:
    """torch bool (S, n) on any device -> numpy packed uint8 (S, ceil(n/8))."""
    import torch

    if bits.device.type == "cuda":
        cupy = _cupy()
        if cupy is not None:  # cupy.packbits has no axis: pad rows to whole bytes, flatten
            s, n = bits.shape
            width = (n + 7) // 8
            padded = cupy.zeros((s, width * 8), dtype=cupy.uint8)
            padded[:, :n] = cupy.from_dlpack(bits.to(dtype=torch.uint8).contiguous())
            return cupy.asnumpy(cupy.packbits(padded.reshape(-1), bitorder="little")
                                .reshape(s, width))
    return np.packbits(bits.cpu().numpy(), axis=1, bitorder="little")


def _cupy():
    try:
        import cupy
    except ImportError:  # optional extra `qecpipe[gpu]`: fall back to torch/numpy bit work
        return None
    return cupy
