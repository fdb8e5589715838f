from pathlib import Path

import numpy as np
import pytest
import stim

from qec import BASIS_X, BASIS_Z, Geometry, memory_circuit


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("distance,rounds", [(3, 1), (3, 3), (5, 4), (7, 2)])
def test_every_detector_on_a_distinct_cell(distance, rounds, basis):
    g = Geometry.from_circuit(memory_circuit(distance=distance, rounds=rounds, basis=basis))
    cells = set(zip(g.det_round.tolist(), g.det_row.tolist(), g.det_col.tolist()))
    assert len(cells) == g.num_detectors
    assert g.shape == (rounds + 1, distance + 1, distance + 1)
    assert (g.index[g.det_round, g.det_row, g.det_col] == np.arange(g.num_detectors)).all()
    assert (g.index >= 0).sum() == g.num_detectors


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("distance", [3, 5, 9])
def test_half_the_checks_of_each_basis_per_cell_map(distance, basis):
    g = Geometry.from_circuit(memory_circuit(distance=distance, rounds=3, basis=basis))
    half = (distance**2 - 1) // 2
    assert g.x_present.sum() == g.z_present.sum() == half
    assert not (g.x_present & g.z_present).any()
    assert g.basis == basis
    same = BASIS_X if basis == "X" else BASIS_Z
    for t in range(g.shape[0]):
        in_round = g.det_basis[g.det_round == t]
        if t in (0, g.shape[0] - 1):  # first round and final data read: memory basis only
            assert len(in_round) == half and (in_round == same).all()
        else:
            assert (in_round == BASIS_X).sum() == (in_round == BASIS_Z).sum() == half


def test_geometry_agrees_with_stim_generated_layout():
    ours = Geometry.from_circuit(memory_circuit(distance=5, rounds=3, basis="X"))
    ref = Geometry.from_circuit(stim.Circuit.generated("surface_code:rotated_memory_x",
                                                        distance=5, rounds=3))
    assert (ours.x_present == ref.x_present).all() and (ours.z_present == ref.z_present).all()
    assert ours.observable_data == ref.observable_data


def test_observable_support_is_a_logical_line():
    gx = Geometry.from_circuit(memory_circuit(distance=5, rounds=1, basis="X"))
    gz = Geometry.from_circuit(memory_circuit(distance=5, rounds=1, basis="Z"))
    assert gx.observable_data == tuple((r, 0) for r in range(5))  # X_L: data column 0
    assert gz.observable_data == tuple((0, c) for c in range(5))  # Z_L: data row 0


def test_grid_round_trip():
    g = Geometry.from_circuit(memory_circuit(distance=3, rounds=3, basis="Z"))
    dets = np.random.default_rng(0).integers(0, 2, size=(7, g.num_detectors), dtype=np.uint8)
    grid = g.to_grid(dets)
    assert grid.shape == (7, *g.shape) and grid.sum() == dets.sum()
    assert (g.from_grid(grid) == dets).all()
    with pytest.raises(ValueError, match=r"dets has shape \(7, 5\); expected \(shots, 24\)"):
        g.to_grid(dets[:, :5])


def test_non_surface_code_circuit_is_refused():
    rep = stim.Circuit.generated("repetition_code:memory", distance=3, rounds=2)
    with pytest.raises(ValueError, match="coordinates"):
        Geometry.from_circuit(rep)


# --- any coordinates: Google's Sycamore circuits and transformed copies of stim's ---------

GOOGLE = Path(__file__).parent / "data" / "google_qec3v5"
GOOGLE_MULTI_ROUND = ["surface_code_bX_d3_r03_center_3_5", "surface_code_bX_d3_r05_center_3_5",
                      "surface_code_bX_d3_r03_center_5_3", "surface_code_bX_d5_r05_center_5_5"]


def _google(name: str) -> stim.Circuit:
    return stim.Circuit.from_file(GOOGLE / name / "circuit_noisy.stim")


@pytest.mark.parametrize("name", GOOGLE_MULTI_ROUND)
def test_google_sycamore_layout_places_every_detector(name):
    circuit = _google(name)
    d, rounds = int(name.split("_d")[1][0]), int(name.split("_r")[1][:2])
    g = Geometry.from_circuit(circuit)
    assert (g.distance, g.shape, g.basis) == (d, (rounds + 1, d + 1, d + 1), "X")
    assert (g.index[g.det_round, g.det_row, g.det_col] == np.arange(g.num_detectors)).all()
    assert (g.index >= 0).sum() == g.num_detectors == circuit.num_detectors
    # the same checkerboard and boundary sides as stim's own X memory of that distance
    ref = Geometry.from_circuit(memory_circuit(distance=d, rounds=rounds, basis="X"))
    assert (g.x_present == ref.x_present).all() and (g.z_present == ref.z_present).all()
    assert g.slice_sizes().tolist() == ref.slice_sizes().tolist()
    assert g.observable_data == ref.observable_data
    # the Sycamore grid is stim's layout turned by 45 degrees and scaled by sqrt(2)
    assert np.allclose(np.abs(g.frame.matrix), 0.5) and not g.frame.is_identity
    # the DEMs Google fitted carry the same coordinates: the same layout without the circuit
    pij = stim.DetectorErrorModel.from_file(GOOGLE / name / "pij_from_even_for_odd.dem")
    assert (Geometry.from_dem(pij).index == g.index).all()


def test_google_orientation_is_the_one_the_edge_table_and_the_models_assume():
    """Of the eight symmetries of the square, the one chosen puts every edge on the table and
    the X boundary checks on rows 0 and d, like the stim circuits the models were trained on;
    its transpose also fits the table but puts the X checks on the columns."""
    g = Geometry.from_circuit(_google("surface_code_bX_d5_r05_center_5_5"))
    x_rows, x_cols = np.nonzero(g.x_present)
    assert set(x_rows.tolist()) >= {0, 5} and not ({0, 5} & set(x_cols.tolist()))
    assert g.x_present[0].tolist() == [False, True, False, True, False, False]


def test_google_one_round_needs_the_basis():
    circuit = _google("surface_code_bX_d3_r01_center_3_5")
    with pytest.raises(ValueError, match="only the memory basis has detectors.*basis='X'"):
        Geometry.from_circuit(circuit)
    g = Geometry.from_circuit(circuit, basis="X")
    three = Geometry.from_circuit(_google("surface_code_bX_d3_r03_center_3_5"))
    assert g.frame == three.frame and g.basis == "X" and g.shape == (2, 4, 4)


def _transformed(circuit: stim.Circuit, move) -> stim.Circuit:
    """``circuit`` with every QUBIT_COORDS and DETECTOR (x, y) replaced by ``move(x, y)``."""
    out = stim.Circuit()
    for inst in circuit.flattened():
        if inst.name in ("QUBIT_COORDS", "DETECTOR"):
            args = inst.gate_args_copy()
            x, y = move(args[0], args[1])
            inst = stim.CircuitInstruction(inst.name, inst.targets_copy(), [x, y, *args[2:]])
        out.append(inst)
    return out


MOVES = {
    "sycamore-like 45 deg, scaled, shifted": lambda x, y: ((x + y) / 2 + 3, (y - x) / 2 - 7),
    "quarter turn": lambda x, y: (-y, x),
    "mirror": lambda x, y: (-x + 11, y),
    "scaled by 3.5 and shifted": lambda x, y: (3.5 * x - 2, 3.5 * y + 0.25),
    "turned by 30 deg": lambda x, y: (0.866025403784 * x - 0.5 * y, 0.5 * x + 0.866025403784 * y),
}


@pytest.mark.parametrize("move", MOVES.values(), ids=MOVES.keys())
@pytest.mark.parametrize("basis", ["X", "Z"])
def test_moved_stim_circuit_maps_back_onto_the_canonical_layout(move, basis):
    circuit = stim.Circuit.generated(f"surface_code:rotated_memory_{basis.lower()}", distance=5,
                                     rounds=3, after_clifford_depolarization=0.001)
    ref = Geometry.from_circuit(circuit)
    g = Geometry.from_circuit(_transformed(circuit, move))
    assert g.basis == basis and g.shape == ref.shape
    assert (g.index == ref.index).all()
    assert g.observable_data == ref.observable_data


def test_noiseless_moved_circuit_is_oriented_by_a_probe_noise():
    circuit = memory_circuit(distance=3, rounds=3, basis="Z")
    g = Geometry.from_circuit(_transformed(circuit, MOVES["quarter turn"]))
    assert (g.index == Geometry.from_circuit(circuit).index).all()


def test_other_codes_and_broken_layouts_are_refused_with_one_message():
    color = stim.Circuit.generated("color_code:memory_xyz", distance=3, rounds=2,
                                   after_clifford_depolarization=0.001)
    with pytest.raises(ValueError, match="not a rotated surface-code layout"):
        Geometry.from_circuit(color)
    circuit = memory_circuit(distance=3, rounds=3, basis="X")
    squashed = _transformed(circuit, lambda x, y: (x, 2 * y))   # not a square lattice
    with pytest.raises(ValueError, match="not a rotated surface-code layout"):
        Geometry.from_circuit(squashed)
    unrotated = stim.Circuit.generated("surface_code:unrotated_memory_x", distance=3, rounds=2,
                                       after_clifford_depolarization=0.001)
    with pytest.raises(ValueError, match="rotated surface-code layout|data qubits|orientations"):
        Geometry.from_circuit(unrotated)
