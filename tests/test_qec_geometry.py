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
