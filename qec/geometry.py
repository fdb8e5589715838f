"""The one object that knows where every detector sits.

Built from a circuit's detector coordinates (x, y, t) in the rotated layout of
``stim.Circuit.generated`` and :func:`qec.memory_circuit`: the stabilizer at (x, y) lies on
plaquette (i, j) = (x/2, y/2) of a (d+1)x(d+1) lattice, X-type iff i + j is odd, so one grid
holds both bases like a checkerboard. Every later stage (pre-decoder encoding, noise
learning, windows) asks this object; nothing else re-derives the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import stim

from qec.errors import InputError

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
    def from_circuit(cls, circuit: stim.Circuit) -> Geometry:
        """Derive the geometry of a rotated surface-code memory circuit."""
        rnd, row, col = _cells(circuit.get_detector_coordinates(), circuit.num_detectors)
        return cls._assemble(rnd, row, col, distance=_distance(circuit, row, col),
                             observable_data=_observable_data(circuit))

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel) -> Geometry:
        """The same geometry from a circuit's detector error model (e.g. all sinter gives).

        A DEM keeps the circuit's DETECTOR(x, y, t) coordinates but not its qubits, so the
        distance is read from the plaquette lattice (rows and columns 0..d) and
        ``observable_data`` is empty.

        Examples:
            >>> from qec import memory_circuit
            >>> c = memory_circuit(distance=5, rounds=3, basis="X")
            >>> a, b = Geometry.from_circuit(c), Geometry.from_dem(c.detector_error_model())
            >>> a.shape == b.shape and bool((a.index == b.index).all()), b.observable_data
            (True, ())
        """
        rnd, row, col = _cells(dem.get_detector_coordinates(), dem.num_detectors)
        distance = int(max(row.max(), col.max()))
        if distance < 3 or distance % 2 == 0:
            raise InputError(f"detector plaquettes span rows/cols 0..{distance}; a rotated "
                             "surface code of odd distance d >= 3 spans 0..d")
        return cls._assemble(rnd, row, col, distance=distance, observable_data=())

    @classmethod
    def _assemble(cls, rnd: np.ndarray, row: np.ndarray, col: np.ndarray, *, distance: int,
                  observable_data: tuple[tuple[int, int], ...]) -> Geometry:
        num = len(rnd)
        shape = (int(rnd.max()) + 1, distance + 1, distance + 1)
        index = np.full(shape, -1, dtype=np.int64)
        if np.any(index[rnd, row, col] != -1) or len(set(zip(rnd, row, col))) != num:
            raise InputError("two detectors share a (round, x, y) cell")
        index[rnd, row, col] = np.arange(num)
        basis_arr = np.where((row + col) % 2 == 1, BASIS_X, BASIS_Z).astype(np.uint8)
        x_present, z_present = _presence(shape, row, col, basis_arr)
        first = set(basis_arr[rnd == 0].tolist())
        if len(first) != 1:
            raise InputError("first-round detectors mix X and Z checks: not a memory circuit")
        return cls(distance=distance, num_detectors=num, det_round=rnd, det_row=row,
                   det_col=col, det_basis=basis_arr, shape=shape, index=index,
                   x_present=x_present, z_present=z_present,
                   basis="X" if first == {BASIS_X} else "Z", observable_data=observable_data)

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


def _cells(coords: dict, num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector coordinates (x, y, t) -> (round, row, col) int arrays of the rotated layout."""
    if num == 0 or any(len(coords.get(k, ())) < 3 for k in range(num)):
        raise InputError("circuit needs DETECTOR(x, y, t) coordinates on every detector")
    xyt = np.array([coords[k][:3] for k in range(num)], dtype=float)
    if np.any(xyt != np.round(xyt)) or np.any(xyt[:, :2] % 2 != 0):
        raise InputError("detector (x, y) coordinates must be even integers (rotated layout)")
    x, y, t = (xyt[:, k].astype(int) for k in range(3))
    return t - t.min(), y // 2, x // 2


def _distance(circuit: stim.Circuit, row: np.ndarray, col: np.ndarray) -> int:
    data = [xy for xy in circuit.get_final_qubit_coordinates().values()
            if len(xy) >= 2 and xy[0] % 2 == 1 and xy[1] % 2 == 1]
    distance = int(round(len(data) ** 0.5))
    if distance * distance != len(data) or max(row.max(), col.max()) > distance:
        raise InputError(f"found {len(data)} data qubits at odd coordinates; a rotated "
                         "surface code of distance d has d*d")
    return distance


def _presence(
    shape: tuple[int, int, int], row: np.ndarray, col: np.ndarray, basis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x_present = np.zeros(shape[1:], dtype=bool)
    z_present = np.zeros(shape[1:], dtype=bool)
    x_present[row[basis == BASIS_X], col[basis == BASIS_X]] = True
    z_present[row[basis == BASIS_Z], col[basis == BASIS_Z]] = True
    return x_present, z_present


def _observable_data(circuit: stim.Circuit) -> tuple[tuple[int, int], ...]:
    """Data cells (row, col) whose measurements OBSERVABLE_INCLUDE(0) reads."""
    coords = circuit.get_final_qubit_coordinates()
    measured: list[int] = []
    support: set[int] = set()
    for inst in circuit.flattened():
        if inst.name == "OBSERVABLE_INCLUDE":
            for t in inst.targets_copy():
                if t.is_measurement_record_target:
                    support.add(measured[len(measured) + t.value])
        elif stim.gate_data(inst.name).produces_measurements:
            measured += [t.value for t in inst.targets_copy() if t.is_qubit_target]
    cells = {(int(coords[q][1]) // 2, int(coords[q][0]) // 2) for q in support}
    return tuple(sorted(cells))
