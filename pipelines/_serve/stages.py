"""The service's two stages as plain classes (the Serve replicas wrap them; tests call them).

:class:`ServicePredecoder` takes the detection events of several requests at once and runs ONE
forward pass over all their shots (the whole volume, or block by block with
:class:`pipelines.BlockPredecoder` for windowed decoding), then hands each request its residual,
flip and, in soft mode, per-shot edge weights. :class:`ServiceMatcher` decodes a residual
(with those weights in soft mode) with the task's matcher; without the pre-decoder it decodes
the detection events themselves. A block's prediction is the matcher's flip XOR the
pre-decoder's flip, exactly what :class:`pipelines.PredecoderPipeline` (whole volume) or
:class:`pipelines.WindowedDecoder` (windowed) computes in one process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines._decoders.blocks import BlockPredecoder
from pipelines._serve.config import ServeConfig
from pipelines._windows.plan import WindowPlan
from pipelines._windows.worker import WindowWorker
from qec import BlossomMatcher, MatchingDecoder, SparseEdgeWeights, pack_bits, unpack_bits


@dataclass(frozen=True)
class PreOutput:
    """The pre-decoder's output for one request: residual (S, D), flip (S, O), soft weights
    (rows = the request's shots) and its share of the forward pass's time."""

    residual: np.ndarray
    flip: np.ndarray
    weights: SparseEdgeWeights | None
    seconds: float


class ServicePredecoder:
    """The pre-decoder stage (see the module docstring).

    Examples:
        >>> from qec import NoiseModel
        >>> cfg = ServeConfig(distance=3, rounds=3, noise=NoiseModel.uniform(0.003))
        >>> stage = ServicePredecoder(cfg)
        >>> outs = stage.run([np.zeros((2, 24), bool), np.zeros((1, 24), bool)])
        >>> [o.residual.shape for o in outs], outs[1].weights.shots
        ([(2, 24), (1, 24)], 1)
    """

    def __init__(self, config: ServeConfig, *, device: str = "cpu") -> None:
        from predecoder import EdgeLayout, load_model

        self.config, self.device = config, device
        loaded = load_model(config.model, device=device)
        self.model_name = loaded.path.name
        self.net, self.policy = loaded.net, loaded.policy(config.mode)
        task = config.task()
        self.blocks = (BlockPredecoder(task=task, net=self.net, policy=self.policy,
                                       block_slices=config.n_com, device=device)
                       if config.windowed else None)
        self.layout = None if config.windowed else EdgeLayout.from_task(task)

    def run(self, batch: Sequence[np.ndarray]) -> list[PreOutput]:
        """(S_i, D) bool events of each request -> one :class:`PreOutput` per request."""
        start = time.perf_counter()
        dets = np.concatenate(list(batch))
        residual, flip, weights = self._predecode(dets)
        share = (time.perf_counter() - start) / max(1, dets.shape[0])
        outs, row = [], 0
        for part in batch:
            rows = np.arange(row, row + part.shape[0])
            row += part.shape[0]
            outs.append(PreOutput(residual[rows], flip[rows],
                                  weights.take(rows) if weights is not None else None,
                                  share * part.shape[0]))
        return outs

    def _predecode(self, dets: np.ndarray):
        if self.blocks is not None:
            return self.blocks.run_all(dets)
        import torch

        from predecoder import predecode

        corr = predecode(self.net, torch.as_tensor(dets, device=self.device), self.layout,
                         policy=self.policy)
        return corr.residual.cpu().numpy(), corr.flip.cpu().numpy(), corr.weights


class ServiceMatcher:
    """The matcher stage: the task's PyMatching (hard mode, or no pre-decoder), the per-shot
    weight matcher (soft mode), or windows of either (windowed decoding).

    Examples:
        >>> from qec import NoiseModel
        >>> cfg = ServeConfig(distance=3, rounds=3, noise=NoiseModel.uniform(0.003),
        ...                   mode="pymatching")
        >>> ServiceMatcher(cfg).decode(np.zeros((2, 24), bool)).tolist()
        [[False], [False]]
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        task = config.task()
        cap = None
        if config.mode == "soft":
            from predecoder import load_model

            cap = load_model(config.model).policy("soft").cap
        self.worker = self.matcher = None
        if config.windowed:
            plan = WindowPlan(num_slices=task.rounds + 1, n_com=config.n_com,
                              n_buf=config.n_buf)
            self.worker = WindowWorker(task=task, plan=plan, soft_cap=cap)
            self.worker.graphs.warm()
        elif cap is not None:
            from predecoder import EdgeLayout

            self.matcher = BlossomMatcher.from_graph(EdgeLayout.from_task(task).graph, cap=cap)
        else:
            self.matcher = MatchingDecoder.from_dem(task.dem())
        self.num_observables = task.circuit().num_observables

    def decode(self, dets: np.ndarray, weights: SparseEdgeWeights | None = None) -> np.ndarray:
        """(S, D) bool events or residual -> (S, O) bool flips of the matched edges."""
        if self.worker is not None:
            return self.worker.decode_all(dets, weights=weights)
        packed = pack_bits(dets)
        out = (self.matcher.decode_batch(packed, weights) if weights is not None
               else self.matcher.decode_batch(packed))
        return unpack_bits(out, self.num_observables)
