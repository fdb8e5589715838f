"""The decoder registry: a name -> a batch decoder built for one task.

Every decoder takes bit-packed detectors (shots, ceil(D/8)) uint8 and returns bit-packed
observable predictions (shots, ceil(O/8)) uint8. Decoders may also define ``metrics()``
(a dict of per-stage µs per round and densities accumulated over calls) for the run report.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import stim

from pipelines._decoders.consensus import CONSENSUS_DECODERS, CONSENSUS_REFEREES
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS, mode_of
from qec import MATCHING_DECODERS, InputError, MatchingDecoder, Task
from qec.referees import require_package


class BatchDecoder(Protocol):
    name: str

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class StagedDecoder(Protocol):
    """A batch decoder that also reports per-stage figures (µs per round, SDR, ...) for the
    run report, accumulated over its calls."""

    name: str

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray: ...

    def metrics(self) -> dict[str, float]: ...


DECODER_NAMES: tuple[str, ...] = MATCHING_DECODERS + PREDECODER_DECODERS + CONSENSUS_DECODERS
MODEL_DECODERS: tuple[str, ...] = PREDECODER_DECODERS + CONSENSUS_DECODERS  # take --model


def validate_decoder_names(names: list[str], *, extra: Collection[str] = ()) -> list[str]:
    """Return ``names`` if every one is registered (or in ``extra``) and can run here, else
    raise naming the first unknown one, or the optional referee package one lacks."""
    if not names:
        raise InputError("decoders=[] must name at least one decoder")
    for name in names:
        if name not in DECODER_NAMES and name not in extra:
            raise InputError(f"decoder={name!r} is unknown; choose from {', '.join(DECODER_NAMES)}")
    if len(set(names)) != len(names):
        raise InputError(f"decoders={names} names a decoder twice")
    for name in names:   # a consensus decoder's optional referee package: refused up front
        for layer in CONSENSUS_REFEREES.get(name, ()):
            if layer != "ensemble":
                require_package(layer)
    return names


def make_decoder(
    name: str, task: Task, *, dem: stim.DetectorErrorModel | None = None,
    model: str | Path | None = None, device: str = "cpu",
    referee_budget_seconds: float | None = None,
) -> BatchDecoder:
    """Build decoder ``name`` for ``task``.

    The global matcher is built from ``dem`` when given (e.g. learned weights on the same
    detectors), else from the task's own DEM. ``model`` (a preset name or a weights path;
    default: the shipped model) and ``device`` apply to the pre-decoder decoders only;
    ``referee_budget_seconds`` (per batch; None = unbounded) to the consensus decoders only.
    """
    validate_decoder_names([name])
    if name in CONSENSUS_DECODERS:
        from pipelines._decoders.consensus import ConsensusDecoder

        return ConsensusDecoder.from_task(task, referees=CONSENSUS_REFEREES[name], name=name,
                                          model=model, dem=dem, device=device,
                                          budget_seconds=referee_budget_seconds)
    if name in PREDECODER_DECODERS:
        from pipelines._decoders.predecoder_pipeline import PredecoderPipeline

        return PredecoderPipeline.from_task(task, model=model, dem=dem, device=device,
                                            mode=mode_of(name),
                                            correlated=name.endswith("-correlated"))
    return MatchingDecoder.named(name, task.dem() if dem is None else dem)


def make_decoder_for_dem(
    name: str, dem: stim.DetectorErrorModel, *, model: str | Path | None = None,
    referee_budget_seconds: float | None = None, device: str = "cpu",
) -> BatchDecoder:
    """Build decoder ``name`` for an arbitrary circuit's decomposed DEM (no Task): what
    ``qecpipe decode`` (samples from elsewhere) and the sinter plugin (sinter hands over only
    the DEM) need. Every registered decoder can be built this way: a DEM keeps the circuit's
    DETECTOR(x, y, t) coordinates, from which the pre-decoder reads its layout.

    ``model`` (a preset name or a weights path; default: the shipped model) and ``device``
    apply to the decoders with a pre-decoder only; ``referee_budget_seconds`` (per batch) to
    the consensus decoders only.

    Examples:
        >>> from qec import circuit_dem, memory_circuit, NoiseModel
        >>> dem = circuit_dem(NoiseModel.uniform(0.001).apply(memory_circuit(
        ...     distance=3, rounds=2, basis="Z")))
        >>> make_decoder_for_dem("pymatching", dem).name
        'pymatching'
    """
    validate_decoder_names([name])
    if name in CONSENSUS_DECODERS:
        from pipelines._decoders.consensus import ConsensusDecoder

        return ConsensusDecoder.from_dem(dem, referees=CONSENSUS_REFEREES[name], name=name,
                                         model=model, budget_seconds=referee_budget_seconds,
                                         device=device)
    if name in PREDECODER_DECODERS:  # layout from the DEM's DETECTOR(x, y, t) coordinates
        from pipelines._decoders.predecoder_pipeline import PredecoderPipeline

        return PredecoderPipeline.from_dem(dem, model=model, mode=mode_of(name),
                                           correlated=name.endswith("-correlated"),
                                           device=device)
    return MatchingDecoder.named(name, dem)
