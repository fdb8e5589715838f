"""The one object that knows where every detector sits.

Built from a circuit's (or its DEM's) detector coordinates (x, y, t). The grid is the
rotated layout of ``stim.Circuit.generated`` and :func:`qec.memory_circuit`: the stabilizer
at (x, y) lies on plaquette (row, col) = (y/2, x/2) of a (d+1)x(d+1) lattice, X-type iff
row + col is odd, so one grid holds both bases like a checkerboard. Circuits whose detectors
sit on a rotated, reflected, translated or scaled copy of that lattice (Google's Sycamore
grid, turned by 45 degrees) are mapped onto it by :func:`qec.frame.infer_frame`, which
reads only coordinates (and, to fix the orientation, the DEM's edges), never detector order.
Time slices are the distinct t values in increasing order. Every later stage (pre-decoder
encoding, noise learning, windows) asks this object; nothing else re-derives the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import stim

from qec.errors import InputError
from qec.frame import LayoutFrame, infer_frame
from qec.graph import MatchingGraph

BASIS_X, BASIS_Z = 0, 1


@dataclass(frozen=True, eq=False)
class Geometry:
    """Detector index -> (round, row, col, basis) on a regular (T, H, W) grid.

    Attributes:
        distance: code distance d (H = W = d + 1).
        num_detectors: D, the circuit's detector count.
        det_round, det_row, det_col: (D,) int arrays, the detector's cell.
        det_basis: (D,) uint8, 0 = X check, 1 = Z check.
        shape: (T, H, W), T = rounds + 1 time slices (the last from the data measurement).
        index: (T, H, W) int array, detector index at a cell or -1.
        x_present, z_present: (H, W) bool, where X / Z stabilizers exist.
        basis: the memory basis ('X' or 'Z'), the basis of the first-round detectors.
        observable_data: ((row, col), ...) data qubits (d x d grid) of the logical observable.
        frame: the map from the circuit's (x, y) coordinates onto (row, col).

    Examples:
        >>> from qec import memory_circuit
        >>> g = Geometry.from_circuit(memory_circuit(distance=3, rounds=2, basis="Z"))
        >>> g.shape, g.basis, int(g.x_present.sum()), int(g.z_present.sum())
        ((3, 4, 4), 'Z', 4, 4)
    """

    distance: int
    num_detectors: int
    det_round: np.ndarray
    det_row: np.ndarray
    det_col: np.ndarray
    det_basis: np.ndarray
    shape: tuple[int, int, int]
    index: np.ndarray
    x_present: np.ndarray
    z_present: np.ndarray
    basis: str
    observable_data: tuple[tuple[int, int], ...]
    frame: LayoutFrame

    @property
    def rounds(self) -> int:
        return self.shape[0] - 1

    def slice_sizes(self) -> np.ndarray:
        """(T,) int64: detectors per time slice (stim orders detectors slice by slice).

        Examples:
            >>> from qec import memory_circuit
            >>> Geometry.from_circuit(memory_circuit(distance=3, rounds=3, basis="X")
            ...                       ).slice_sizes().tolist()
            [4, 8, 8, 4]
        """
        return np.bincount(self.det_round, minlength=self.shape[0]).astype(np.int64)

    @classmethod
    def from_circuit(cls, circuit: stim.Circuit, *, dem: stim.DetectorErrorModel | None = None,
                     basis: str | None = None) -> Geometry:
        """Derive the geometry of a rotated surface-code memory circuit, in any coordinates.

        Args:
            circuit: the memory experiment (noisy or not), with DETECTOR(x, y, t) coordinates.
            dem: its decomposed DEM, if at hand; otherwise built only when the coordinates
                alone leave the orientation open (never for the canonical layout).
            basis: the memory basis, if known (needed only for a one-round experiment in
                non-canonical coordinates: see :func:`qec.frame.infer_frame`).

        Examples:
            >>> import stim
            >>> c = stim.Circuit.generated("surface_code:rotated_memory_x", distance=3,
            ...                            rounds=3, after_clifford_depolarization=0.001)
            >>> turned = stim.Circuit(str(c).replace("QUBIT_COORDS(", "QUBIT_COORDS(-"
            ...                       ).replace("DETECTOR(", "DETECTOR(-"))   # x -> -x
            >>> a, b = Geometry.from_circuit(c), Geometry.from_circuit(turned)
            >>> bool((a.index == b.index).all()), b.basis, b.distance
            (True, 'X', 3)
        """
        xy, rnd = _coordinates(circuit.get_detector_coordinates(), circuit.num_detectors)
        frame = infer_frame(xy, first_round=rnd == 0, rounds=rnd,
                            edges=lambda: _edge_pairs(circuit, dem), basis=basis)
        _check_data_qubits(circuit, frame)
        cells = frame.cells(xy)
        return cls._assemble(rnd, cells[:, 0], cells[:, 1], frame=frame,
                             observable_data=_observable_data(circuit, frame))

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel, *, basis: str | None = None) -> Geometry:
        """The same geometry from a circuit's detector error model (e.g. all sinter gives).

        A DEM keeps the circuit's DETECTOR(x, y, t) coordinates but not its qubits, so the
        distance is read from the plaquette lattice and ``observable_data`` is empty; the
        orientation of a non-canonical layout comes from the DEM's own edges.

        Examples:
            >>> from qec import memory_circuit
            >>> c = memory_circuit(distance=5, rounds=3, basis="X")
            >>> a, b = Geometry.from_circuit(c), Geometry.from_dem(c.detector_error_model())
            >>> a.shape == b.shape and bool((a.index == b.index).all()), b.observable_data
            (True, ())
        """
        xy, rnd = _coordinates(dem.get_detector_coordinates(), dem.num_detectors)
        frame = infer_frame(xy, first_round=rnd == 0, rounds=rnd,
                            edges=lambda: MatchingGraph.from_dem(dem).edge_dets, basis=basis)
        cells = frame.cells(xy)
        return cls._assemble(rnd, cells[:, 0], cells[:, 1], frame=frame, observable_data=())

    @classmethod
    def _assemble(cls, rnd: np.ndarray, row: np.ndarray, col: np.ndarray, *,
                  frame: LayoutFrame,
                  observable_data: tuple[tuple[int, int], ...]) -> Geometry:
        num, distance = len(rnd), frame.distance
        shape = (int(rnd.max()) + 1, distance + 1, distance + 1)
        index = np.full(shape, -1, dtype=np.int64)
        if len(set(zip(rnd.tolist(), row.tolist(), col.tolist()))) != num:
            raise InputError("two detectors share a (round, x, y) cell")
        index[rnd, row, col] = np.arange(num)
        basis_arr = np.where((row + col) % 2 == 1, BASIS_X, BASIS_Z).astype(np.uint8)
        x_present, z_present = _presence(shape, row, col, basis_arr)
        first = set(basis_arr[rnd == 0].tolist())
        return cls(distance=distance, num_detectors=num, det_round=rnd, det_row=row,
                   det_col=col, det_basis=basis_arr, shape=shape, index=index,
                   x_present=x_present, z_present=z_present,
                   basis="X" if first == {BASIS_X} else "Z", observable_data=observable_data,
                   frame=frame)

    def to_grid(self, dets: np.ndarray) -> np.ndarray:
        """(S, D) 0/1 detection events -> (S, T, H, W) uint8; empty cells are 0."""
        dets = np.asarray(dets)
        if dets.ndim != 2 or dets.shape[1] != self.num_detectors:
            raise InputError(f"dets has shape {dets.shape}; expected (shots, {self.num_detectors})")
        grid = np.zeros((dets.shape[0], *self.shape), dtype=np.uint8)
        grid[:, self.det_round, self.det_row, self.det_col] = dets
        return grid

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """(S, T, H, W) -> (S, D) in stim's detector order; the inverse of :meth:`to_grid`."""
        grid = np.asarray(grid)
        if grid.shape[1:] != self.shape:
            raise InputError(f"grid has shape {grid.shape}; expected (shots, {self.shape})")
        return grid[:, self.det_round, self.det_row, self.det_col]


def _coordinates(coords: dict, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Detector coordinates -> (D, 2) float (x, y) and (D,) int64 time slice (rank of t)."""
    if num == 0 or any(len(coords.get(k, ())) < 3 for k in range(num)):
        raise InputError("circuit needs DETECTOR(x, y, t) coordinates on every detector")
    xyt = np.array([coords[k][:3] for k in range(num)], dtype=float)
    if not np.isfinite(xyt).all():
        raise InputError("detector coordinates must be finite numbers")
    _, rnd = np.unique(xyt[:, 2], return_inverse=True)
    return xyt[:, :2], rnd.astype(np.int64).reshape(-1)


def _edge_pairs(circuit: stim.Circuit, dem: stim.DetectorErrorModel | None) -> np.ndarray:
    """(E, 2) detector pairs of the circuit's decomposed DEM (the circuit's own noise, or a
    probe of two-qubit depolarization after every two-qubit gate when it has none)."""
    from qec.task import circuit_dem

    if dem is None:
        dem = circuit_dem(circuit)
        if dem.num_errors == 0:
            dem = circuit_dem(_with_probe_noise(circuit))
    return MatchingGraph.from_dem(dem).edge_dets


def _with_probe_noise(circuit: stim.Circuit) -> stim.Circuit:
    out = stim.Circuit()
    for inst in circuit.flattened():
        out.append(inst)
        data = stim.gate_data(inst.name)
        if data.is_two_qubit_gate and data.is_unitary:
            out.append("DEPOLARIZE2", inst.targets_copy(), 1e-3)
    return out


def _data_cells(circuit: stim.Circuit, frame: LayoutFrame) -> dict[int, tuple[int, int]]:
    """Qubit -> data cell (row, col) in the d x d grid, for the patch's data qubits."""
    coords = {q: xy[:2] for q, xy in circuit.get_final_qubit_coordinates().items()
              if len(xy) >= 2}
    if not coords:
        return {}
    qubits = list(coords)
    rc = frame.data_cells(np.array([coords[q] for q in qubits], dtype=float))
    ok = (np.abs(rc - np.rint(rc)) < 1e-6).all(axis=1)
    cells = np.rint(rc).astype(np.int64)
    ok &= ((cells >= 0) & (cells < frame.distance)).all(axis=1)
    return {q: (int(cells[i, 0]), int(cells[i, 1])) for i, q in enumerate(qubits) if ok[i]}


def _check_data_qubits(circuit: stim.Circuit, frame: LayoutFrame) -> None:
    found = len(set(_data_cells(circuit, frame).values()))
    d = frame.distance
    if found != d * d:
        raise InputError(f"found {found} data qubits on the cells of the d={d} patch that the "
                         f"detectors span; a rotated surface code of distance {d} has {d * d}")


def _presence(
    shape: tuple[int, int, int], row: np.ndarray, col: np.ndarray, basis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x_present = np.zeros(shape[1:], dtype=bool)
    z_present = np.zeros(shape[1:], dtype=bool)
    x_present[row[basis == BASIS_X], col[basis == BASIS_X]] = True
    z_present[row[basis == BASIS_Z], col[basis == BASIS_Z]] = True
    return x_present, z_present


def _observable_data(circuit: stim.Circuit,
                     frame: LayoutFrame) -> tuple[tuple[int, int], ...]:
    """Data cells (row, col) whose measurements OBSERVABLE_INCLUDE(0) reads."""
    measured: list[int] = []
    support: set[int] = set()
    for inst in circuit.flattened():
        if inst.name == "OBSERVABLE_INCLUDE":
            for t in inst.targets_copy():
                if t.is_measurement_record_target:
                    support.add(measured[len(measured) + t.value])
        elif stim.gate_data(inst.name).produces_measurements:
            measured += [t.value for t in inst.targets_copy() if t.is_qubit_target]
    cells = _data_cells(circuit, frame)
    return tuple(sorted({cells[q] for q in support if q in cells}))
