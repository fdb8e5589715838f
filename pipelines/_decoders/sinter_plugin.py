"""qecpipe's decoders as ``sinter.Decoder``s, so sinter's collect, CSV, resume and plots work.

From Python::

    sinter.collect(tasks=..., decoders=["predecoder+pymatching"], num_workers=4,
                   custom_decoders=pipelines.sinter_decoders(), max_shots=10**6)

From the command line::

    sinter collect --circuits *.stim --decoders predecoder+pymatching \\
        --custom_decoders_module_function pipelines:sinter_decoders \\
        --max_shots 1000000 --max_errors 1000 --processes 4 --save_resume_filepath stats.csv

sinter hands a decoder only the circuit's detector error model (decomposed, as
:func:`qec.circuit_dem` builds it); the DEM keeps the circuit's detector coordinates, which is
all a layout-aware decoder needs. Each worker process builds the decoder once per task
(``compile_decoder_for_dem``) and then decodes bit-packed batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sinter
import stim

from pipelines._decoders.registry import DECODER_NAMES, BatchDecoder, make_decoder_for_dem
from qec import InputError, InputTypeError


def sinter_decoders(*, model: str | Path | None = None) -> dict[str, sinter.Decoder]:
    """``{name: sinter.Decoder}`` for every registered qecpipe decoder sinter lacks.

    Names sinter already has built in (``pymatching``, ``pymatching-correlated``) are left
    out, so sinter's own implementation keeps those names. Building is lazy: nothing is
    loaded until a worker compiles a decoder for a task.

    Args:
        model: pre-decoder weights, a preset name or a .safetensors path (default: the
            shipped model). sinter's ``--custom_decoders_module_function`` calls this with no
            arguments; from Python, pass a model to compare weights.

    Examples:
        >>> import sinter
        >>> all(isinstance(d, sinter.Decoder) for d in sinter_decoders().values())
        True
        >>> "pymatching" in sinter_decoders()  # sinter's built-in keeps that name
        False
    """
    model = None if model is None else str(model)
    return {name: SinterDecoder(name=name, model=model) for name in DECODER_NAMES
            if name not in sinter.BUILT_IN_DECODERS}


@dataclass(frozen=True)
class SinterDecoder(sinter.Decoder):
    """The registered qecpipe decoder ``name`` behind sinter's Decoder interface (picklable).

    ``model``: pre-decoder weights (preset name or .safetensors path; None = shipped default),
    ignored by the matching decoders.

    Examples:
        >>> from qec import NoiseModel, Task
        >>> dem = Task(distance=3, noise=NoiseModel.uniform(0.001)).dem()
        >>> compiled = SinterDecoder(name="pymatching").compile_decoder_for_dem(dem=dem)
        >>> compiled.decode_shots_bit_packed(
        ...     bit_packed_detection_event_data=np.zeros((2, 3), dtype=np.uint8)).tolist()
        [[0], [0]]
    """

    name: str
    model: str | None = None

    def __post_init__(self) -> None:
        if self.name not in DECODER_NAMES:
            raise InputError(f"name={self.name!r} is not a qecpipe decoder that can be built "
                             f"from a DEM; choose one of {', '.join(DECODER_NAMES)}")
        if self.model is not None and not isinstance(self.model, str):
            raise InputTypeError(f"model={self.model!r} must be a preset name or a path string")

    def compile_decoder_for_dem(self, *, dem: stim.DetectorErrorModel) -> sinter.CompiledDecoder:
        return _CompiledDecoder(make_decoder_for_dem(self.name, dem, model=self.model))


class _CompiledDecoder(sinter.CompiledDecoder):
    """One built decoder; sinter calls it with bit-packed batches of one task."""

    def __init__(self, decoder: BatchDecoder) -> None:
        self.decoder = decoder

    def decode_shots_bit_packed(self, *, bit_packed_detection_event_data: np.ndarray
                                ) -> np.ndarray:
        # (shots, ceil(D/8)) uint8 -> (shots, ceil(O/8)) uint8, both little-endian packed.
        return self.decoder.decode_batch(bit_packed_detection_event_data)
