"""Training noise from a fixed detector error model: a DEM learned from a device's syndromes
(``qecpipe learn-noise``), a DEM fitted by others (Google's ``pij_from_even_for_odd.dem``) or
any circuit's own DEM.

Training then samples that DEM with stim (``return_errors=True``) instead of a noise family
over a range of p: labels are the fired mechanisms mapped onto edges of the DEM's own
decomposed graph, placed on the pre-decoder's grid by the :class:`qec.Geometry` of the
circuit the DEM belongs to (any coordinates: Google's Sycamore grid included). The source
(kind, file name, SHA-256 of the file, circuit) is recorded in the model's metadata.

Examples:
    >>> import stim
    >>> from qec import NoiseModel, Task
    >>> task = Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.005))
    >>> src = DemNoise.from_dem(task.dem(), circuit=task.circuit(),
    ...                         source={"kind": "dem", "file": "example.dem"})
    >>> src.layout.shape, src.rounds, src.source["kind"]
    ((4, 4, 4), 3, 'dem')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import stim

from predecoder.edges import EdgeLayout
from qec import Geometry, InputError, MatchingGraph


@dataclass(frozen=True, eq=False)
class DemNoise:
    """One fixed DEM to train on, with the layout of its detectors.

    Attributes:
        dem: the (graphlike-decomposed) DEM that is sampled.
        layout: its :class:`predecoder.EdgeLayout` (geometry of the circuit + the DEM's graph).
        source: provenance written into the weights file (kind, file, sha256, circuit, ...).
    """

    dem: stim.DetectorErrorModel
    layout: EdgeLayout
    source: dict = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return self.layout.geometry.rounds

    @property
    def distance(self) -> int:
        return self.layout.geometry.distance

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, circuit: stim.Circuit | None,
                 source: dict) -> DemNoise:
        """``dem`` on the layout of ``circuit`` (or of the DEM's own detector coordinates)."""
        if circuit is not None and circuit.num_detectors != dem.num_detectors:
            raise InputError(f"the noise DEM has {dem.num_detectors} detectors but its circuit "
                             f"has {circuit.num_detectors}: give the circuit the DEM belongs to")
        if dem.num_observables < 1:
            raise InputError("the noise DEM has no logical observable")
        geometry = (Geometry.from_dem(dem) if circuit is None
                    else Geometry.from_circuit(circuit, dem=dem))
        return cls(dem=dem, layout=EdgeLayout.build(geometry, MatchingGraph.from_dem(dem)),
                   source=dict(source))

    @classmethod
    def from_dem_file(cls, path: str | Path, *,
                      circuit_path: str | Path | None = None) -> DemNoise:
        """A DEM file (detector coordinates, or ``circuit_path`` for the layout)."""
        try:
            dem = stim.DetectorErrorModel.from_file(str(path))
        except (OSError, ValueError, IndexError) as exc:   # stim: IndexError on bad names
            raise InputError(f"noise DEM {str(path)!r} cannot be read as a stim detector "
                             f"error model: {' '.join(str(exc).split())[:200]}") from exc
        circuit = None if circuit_path is None else read_circuit(circuit_path)
        return cls.from_dem(dem, circuit=circuit,
                            source=file_record(path, kind="dem", circuit_path=circuit_path))


def read_circuit(path: str | Path) -> stim.Circuit:
    """A stim circuit file; InputError naming the file when it is not one."""
    try:
        return stim.Circuit.from_file(str(path))
    except (OSError, ValueError, IndexError) as exc:   # stim: IndexError on bad names
        raise InputError(f"circuit {str(path)!r} cannot be read as a stim circuit: "
                         f"{' '.join(str(exc).split())[:200]}") from exc


def file_record(path: str | Path, *, kind: str, circuit_path: str | Path | None) -> dict:
    """Provenance of a noise file: kind, base name and SHA-256 (and the circuit's)."""
    record = {"kind": kind, "file": Path(path).name, "sha256": sha256_of(path)}
    if circuit_path is not None:
        record.update(circuit=Path(circuit_path).name, circuit_sha256=sha256_of(circuit_path))
    return record


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
