"""Rounds of a memory experiment as they arrive at the service: sampled once, or from a file."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipelines._windows.slices import SliceLayout
from pipelines._windows.worker import check_dets
from qec import InputError, Task, atomic_path, pack_bits, sample_detectors, unpack_bits


class RoundSource:
    """Slices of S shots of a memory experiment, emitted one round per ``cycle_us``.

    Args:
        dets: (S, D) bool detection events of the whole experiment (sampled once).
        obs: (S, O) bool true observable flips (to score the stream's predictions).
        layout: the experiment's :class:`SliceLayout`.
        cycle_us: microseconds between slices; 0 = every slice is due at once.
    """

    def __init__(self, *, dets: np.ndarray, obs: np.ndarray, layout: SliceLayout,
                 cycle_us: float) -> None:
        self.dets = check_dets(dets, layout.num_detectors, "dets")
        self.obs = np.asarray(obs, dtype=bool)
        if self.obs.ndim != 2 or self.obs.shape[0] != self.dets.shape[0]:
            raise InputError(f"obs has shape {self.obs.shape}; expected ({self.dets.shape[0]}, O)")
        self.layout, self.cycle_us = layout, float(cycle_us)

    @classmethod
    def from_task(cls, task: Task, *, shots: int, seed: int, cycle_us: float) -> RoundSource:
        """Sample ``shots`` shots of the whole experiment once (stim, seeded)."""
        layout = SliceLayout.of_task(task)
        chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed,
                                      chunk_shots=shots))
        return cls(dets=unpack_bits(chunk.dets, layout.num_detectors),
                   obs=unpack_bits(chunk.obs, 1), layout=layout,
                   cycle_us=cycle_us)

    @classmethod
    def from_file(cls, path: Path, *, task: Task, cycle_us: float) -> RoundSource:
        """Load an ``.npz`` written by :meth:`save` (bit-packed ``dets`` and ``obs``); the
        file is checked against ``task`` (format, array names, shapes) before use."""
        layout = SliceLayout.of_task(task)
        where = f"--input={str(path)!r}"
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile) or not {"dets", "obs"} <= set(
                    data.files):
                raise InputError(f"{where} must be an .npz holding arrays 'dets' and 'obs' "
                                 "(RoundSource.save)")
            with data:
                dets, obs = data["dets"], data["obs"]
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{where} is not a readable .npz file: "
                             f"{' '.join(str(exc).split()) or type(exc).__name__}") from exc
        try:
            dets, obs = unpack_bits(dets, layout.num_detectors), unpack_bits(obs, 1)
        except InputError as exc:
            raise InputError(f"{where} was not written for d={task.distance}, "
                             f"rounds={task.rounds}, basis={task.basis} "
                             f"({layout.num_detectors} detectors per shot): {exc}") from exc
        if dets.shape[0] != obs.shape[0] or dets.shape[0] == 0:
            raise InputError(f"{where} holds {dets.shape[0]} shots of detectors and "
                             f"{obs.shape[0]} of observables; expected the same number >= 1")
        return cls(dets=dets, obs=obs, layout=layout, cycle_us=cycle_us)

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, dets=pack_bits(self.dets), obs=pack_bits(self.obs))

    @property
    def num_slices(self) -> int:
        return self.layout.num_slices

    def due(self, t: int) -> float:
        """Seconds after the start at which slice t arrives."""
        return t * self.cycle_us * 1e-6

    def slice(self, t: int) -> np.ndarray:
        """(S, D_t) bool detectors of slice t."""
        return self.dets[:, self.layout.start(t):self.layout.start(t + 1)]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return ((t, self.slice(t)) for t in range(self.num_slices))
