"""Sample a task once and decode the same shots with every named decoder."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import stim

from pipelines._decoders.registry import (
    BatchDecoder,
    StagedDecoder,
    make_decoder,
    validate_decoder_names,
)
from qec import (
    DEFAULT_CHUNK_SHOTS,
    DecodeStats,
    InputError,
    PairedCounts,
    Task,
    popcount_rows,
    sample_detectors,
)

ProgressFn = Callable[[int, int, dict[str, int]], None]   # (done, total, errors so far)


@dataclass(frozen=True)
class RunResult:
    """Shots, detection-event density, one :class:`qec.DecodeStats` per decoder and, for
    every pair of decoders, the shots only one of them got wrong (:class:`qec.PairedCounts`)."""

    task: Task
    seed: int
    shots: int
    detection_event_density: float
    sample_seconds: float
    stats: dict[str, DecodeStats]
    extra: dict[str, dict] = field(default_factory=dict)
    paired: tuple[PairedCounts, ...] = ()

    def to_json(self, version: str) -> dict:
        """The object of ``qecpipe run --json`` (the design notes, section "Outputs")."""
        decoders = {}
        for name, s in self.stats.items():
            decoders[name] = {**s.to_json(), **self.extra.get(name, {})}
        return {"version": version, "task": self.task.metadata(seed=self.seed),
                "shots": self.shots, "detection_event_density": self.detection_event_density,
                "sample_seconds": self.sample_seconds, "decoders": decoders,
                "paired": [p.to_json() for p in self.paired]}


def run_task(
    task: Task,
    *,
    shots: int,
    decoders: Sequence[str],
    seed: int = 0,
    max_errors: int | None = None,
    chunk_shots: int = DEFAULT_CHUNK_SHOTS,
    progress: ProgressFn | None = None,
    built: dict[str, BatchDecoder] | None = None,
    dem: stim.DetectorErrorModel | None = None,
) -> RunResult:
    """Decode the same seeded shots of ``task`` with every decoder in ``decoders``.

    Stops after ``shots``, or earlier once every decoder has ``max_errors`` errors.
    ``built`` supplies ready decoders by name (any name); the others are built by
    :func:`pipelines.make_decoder`, from ``dem`` when given.

    Examples:
        >>> from qec import NoiseModel
        >>> r = run_task(Task(distance=3, noise=NoiseModel.uniform(0.003)), shots=2000,
        ...              decoders=["pymatching"], seed=1)
        >>> r.shots, r.stats["pymatching"].shots
        (2000, 2000)
    """
    built = dict(built or {})
    names = validate_decoder_names(list(decoders), extra=built)
    if max_errors is not None and max_errors < 1:
        raise InputError(f"max_errors={max_errors} must be >= 1")
    for name in names:
        if name not in built:
            built[name] = make_decoder(name, task, dem=dem)
    errors = dict.fromkeys(names, 0)
    seconds = dict.fromkeys(names, 0.0)
    pairs = [PairedCounts(a, b, 0, 0) for i, a in enumerate(names) for b in names[i + 1:]]
    done, fired, sample_seconds = 0, 0, 0.0
    circuit = task.circuit()
    t0 = time.perf_counter()
    for chunk in sample_detectors(circuit, shots=shots, seed=seed, chunk_shots=chunk_shots):
        sample_seconds += time.perf_counter() - t0
        fired += int(popcount_rows(chunk.dets).sum())
        wrong = {}
        for name in names:
            t1 = time.perf_counter()
            predicted = built[name].decode_batch(chunk.dets)
            seconds[name] += time.perf_counter() - t1
            wrong[name] = np.any(predicted != chunk.obs, axis=1)
            errors[name] += int(wrong[name].sum())
        pairs = [p + PairedCounts.of(p.a, wrong[p.a], p.b, wrong[p.b]) for p in pairs]
        done += chunk.shots
        if progress is not None:
            progress(done, shots, dict(errors))
        if max_errors is not None and min(errors.values()) >= max_errors:
            break
        t0 = time.perf_counter()
    num_dets = circuit.num_detectors
    stats = {n: DecodeStats(decoder=n, shots=done, errors=errors[n], seconds=seconds[n],
                            rounds=task.rounds) for n in names}
    extra = {n: built[n].metrics() for n in names if isinstance(built[n], StagedDecoder)}
    return RunResult(task=task, seed=seed, shots=done,
                     detection_event_density=fired / max(done * num_dets, 1),
                     sample_seconds=sample_seconds, stats=stats, extra=extra,
                     paired=tuple(pairs))
