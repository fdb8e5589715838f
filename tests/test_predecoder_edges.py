"""Edge layout (class table, collisions), the encoding, and the oracle bookkeeping."""

from pathlib import Path

import numpy as np
import pytest
import stim
import torch

from predecoder import EDGE_CLASSES, EdgeLayout, apply_edges, encode, labels_from_errors
from predecoder.edges import BOUNDARY_CLASS, EDGE_OFFSETS
from qec import Geometry, MatchingGraph, NoiseModel, Task, circuit_dem, sample_dem, unpack_bits


def _task(d, basis="X", rounds=None, noise="uniform", p=0.004):
    return Task(distance=d, rounds=rounds, basis=basis, noise=NoiseModel.named(noise, p))


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("d,rounds", [(3, 1), (3, 3), (5, 2), (5, 5), (7, 7), (9, 4)])
def test_class_table_covers_every_edge_without_collisions(d, rounds, basis):
    layout = EdgeLayout.from_task(_task(d, basis, rounds))
    assert len(EDGE_CLASSES) == 9 and layout.valid.shape[0] == 9
    # every edge has a unique slot, and the valid mask counts exactly the edges
    assert len(np.unique(layout.edge_slot)) == layout.num_edges == int(layout.valid.sum())
    # boundary edges are exactly the boundary class; all 8 offsets occur in the bulk
    assert np.array_equal(layout.edge_class == BOUNDARY_CLASS, layout.graph.is_boundary)
    if d >= 5 and rounds >= d:
        assert set(layout.edge_class.tolist()) == set(range(9))


def _slots(layout: EdgeLayout) -> dict[tuple[int, int], tuple[int, tuple[int, ...]]]:
    """Detector pair -> (class, anchor cell): the layout independent of edge order."""
    return {tuple(pair): (int(k), tuple(cell)) for pair, k, cell in zip(
        layout.graph.edge_dets.tolist(), layout.edge_class, layout.edge_cell.tolist())}


def test_class_table_is_the_same_for_other_noise_models():
    """Other noise models give the same edges in the same (class, cell) slots as uniform noise,
    so one network (and one class table) serves every noise model."""
    uniform = EdgeLayout.from_task(_task(5, "Z", 3, p=0.002))
    for noise in ("si1000", "stim"):
        layout = EdgeLayout.from_task(_task(5, "Z", 3, noise=noise, p=0.002))
        assert _slots(layout) == _slots(uniform)
        assert np.array_equal(layout.valid, uniform.valid)


def test_anchor_is_the_smaller_cell_and_offset_matches_class():
    layout = EdgeLayout.from_task(_task(5))
    g = layout.geometry
    cells = np.stack([g.det_round, g.det_row, g.det_col], axis=1)
    for e, (a, b) in enumerate(layout.graph.edge_dets.tolist()):
        if b < 0:
            assert tuple(layout.edge_cell[e]) == tuple(cells[a])
            continue
        lo, hi = sorted([tuple(cells[a]), tuple(cells[b])])
        assert tuple(layout.edge_cell[e]) == lo
        assert EDGE_OFFSETS[layout.edge_class[e]] == tuple(np.subtract(hi, lo))


def test_unknown_offset_and_collision_are_refused():
    task = _task(3)
    geometry = Geometry.from_circuit(task.circuit())
    far = int(np.flatnonzero(geometry.det_round == 3)[0])
    dem = stim.DetectorErrorModel(f"error(0.1) D0 D{far}\n"
                                  f"detector D{geometry.num_detectors - 1}")
    with pytest.raises(ValueError, match=r"offset \(dt, drow, dcol\)=.*not in the class table"):
        EdgeLayout.build(geometry, MatchingGraph.from_dem(dem))
    pair = task.dem()
    g = MatchingGraph.from_dem(pair)
    dup = MatchingGraph(g.num_detectors, g.num_observables,
                        np.concatenate([g.edge_dets, g.edge_dets[:1, ::-1]]),
                        np.concatenate([g.edge_obs, g.edge_obs[:1]]),
                        np.concatenate([g.edge_prob, g.edge_prob[:1]]), g.error_edges,
                        g.error_prob)
    with pytest.raises(ValueError, match="collide in class"):
        EdgeLayout.build(geometry, dup)


def test_encoding_shapes_and_channels():
    task = _task(5, "Z", 3)
    g = Geometry.from_circuit(task.circuit())
    dets = np.zeros((3, g.num_detectors), dtype=bool)
    dets[1, 7] = True
    x = encode(dets, g)
    assert tuple(x.shape) == (3, 4, 4, 6, 6) and x.dtype == torch.float32
    assert x[:, 0].sum() == 1 and x[1, 0, g.det_round[7], g.det_row[7], g.det_col[7]] == 1
    present = x[0, 1].numpy().astype(bool)
    assert np.array_equal(present, g.index >= 0)
    assert not present[0][g.x_present].any()        # Z memory: first round holds Z checks only
    assert np.array_equal(x[0, 2, 2].numpy().astype(bool), g.x_present)
    assert np.array_equal(x[0, 3, 0].numpy().astype(bool), g.z_present)
    with pytest.raises(ValueError, match="expected \\(shots, 72\\)"):
        encode(dets[:, :5], g)


@pytest.mark.parametrize("basis", ["X", "Z"])
@pytest.mark.parametrize("d", [3, 5])
def test_oracle_true_edges_clear_the_syndrome_and_give_the_observable(d, basis):
    task = _task(d, basis, p=0.008)
    layout = EdgeLayout.from_task(task)
    dem = task.dem()
    chunk = next(sample_dem(dem, shots=3000, seed=11, chunk_shots=3000))
    dets = unpack_bits(chunk.dets, dem.num_detectors)
    obs = unpack_bits(chunk.obs, dem.num_observables)
    labels = labels_from_errors(layout, unpack_bits(chunk.errors, dem.num_errors))
    # through the slot volume and back, as the network's outputs travel
    labels = layout.volume_to_edges(layout.edges_to_volume(labels)).astype(bool)
    corr = apply_edges(torch.from_numpy(dets), torch.from_numpy(labels), layout)
    assert dets.sum() > 1000
    assert not corr.residual.any()
    assert np.array_equal(corr.flip.numpy(), obs)
    # torch bookkeeping agrees with qec's MatchingGraph on arbitrary edge sets
    rand = np.random.default_rng(0).random(labels.shape) < 0.05
    c2 = apply_edges(torch.from_numpy(dets), torch.from_numpy(rand), layout)
    assert np.array_equal(c2.residual.numpy(), dets ^ layout.graph.syndrome_of(rand))
    assert np.array_equal(c2.flip.numpy(), layout.graph.observables_of(rand))


GOOGLE = Path(__file__).parent / "data" / "google_qec3v5"


def _stim_generated(basis: str) -> stim.Circuit:
    return stim.Circuit.generated(f"surface_code:rotated_memory_{basis.lower()}", distance=5,
                                  rounds=5, after_clifford_depolarization=0.006,
                                  before_measure_flip_probability=0.006,
                                  after_reset_flip_probability=0.006,
                                  before_round_data_depolarization=0.006)


@pytest.mark.parametrize("source", [
    "surface_code_bX_d3_r03_center_3_5", "surface_code_bX_d3_r05_center_3_5",
    "surface_code_bX_d3_r03_center_5_3", "surface_code_bX_d5_r05_center_5_5",
    "stim-X", "stim-Z"])
def test_oracle_on_google_and_stim_circuits_in_their_own_coordinates(source):
    """Google's Sycamore circuits (layout turned by 45 degrees) and stim's generated ones:
    every edge of the circuit's own DEM gets a slot, and the true fired edges from the DEM
    sampler clear the syndrome and give the right observable on every shot."""
    if source.startswith("stim"):
        circuit = _stim_generated(source[-1])
    else:
        circuit = stim.Circuit.from_file(GOOGLE / source / "circuit_noisy.stim")
    dem = circuit_dem(circuit)
    layout = EdgeLayout.build(Geometry.from_circuit(circuit, dem=dem), MatchingGraph.from_dem(dem))
    assert len(np.unique(layout.edge_slot)) == layout.num_edges
    chunk = next(sample_dem(dem, shots=2000, seed=5, chunk_shots=2000))
    dets = unpack_bits(chunk.dets, dem.num_detectors)
    labels = labels_from_errors(layout, unpack_bits(chunk.errors, dem.num_errors))
    labels = layout.volume_to_edges(layout.edges_to_volume(labels)).astype(bool)
    corr = apply_edges(torch.from_numpy(dets), torch.from_numpy(labels), layout)
    assert dets.mean() > 0.03                     # real work to do: ~10-15 % of detectors fire
    assert not corr.residual.any()
    assert np.array_equal(corr.flip.numpy(), unpack_bits(chunk.obs, dem.num_observables))
