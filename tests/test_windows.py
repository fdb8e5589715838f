"""Parallel-window decoding: tiling, template graphs, exact commits, agreement with global."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.window_graphs import SliceLayout, WindowGraphs, restrict_graph
from pipelines.windows import WindowedDecoder, WindowPlan, WindowWorker
from qec import MatchingDecoder, MatchingGraph, NoiseModel, Task, sample_detectors, unpack_bits


def _sample(task: Task, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    circuit = task.circuit()
    chunk = next(sample_detectors(circuit, shots=shots, seed=seed))
    dets = unpack_bits(chunk.dets, circuit.num_detectors).astype(bool)
    return dets, unpack_bits(chunk.obs, 1).astype(bool), chunk.dets


def _syndrome(edges: np.ndarray, num_detectors: int) -> np.ndarray:
    syn = np.zeros(num_detectors, dtype=bool)
    np.bitwise_xor.at(syn, edges[:, 0], True)
    inner = edges[:, 1] >= 0
    np.bitwise_xor.at(syn, edges[inner, 1], True)
    return syn


@pytest.mark.parametrize("num_slices,n_com,n_buf", [(31, 3, 3), (40, 5, 2), (7, 2, 9), (2, 1, 1)])
def test_plan_commit_regions_tile_time_in_order(num_slices, n_com, n_buf):
    plan = WindowPlan(num_slices=num_slices, n_com=n_com, n_buf=n_buf)
    regions = [(w.commit_lo, w.commit_hi) for w in plan.windows]
    assert regions[0][0] == 0 and regions[-1][1] == num_slices
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(regions, regions[1:]))
    for w in plan.windows:
        assert w.index == plan.windows.index(w)
        if w.layer == "A":
            assert w.lo == max(0, w.commit_lo - n_buf)
            assert w.hi == min(num_slices, w.commit_hi + n_buf)
        else:  # B: between two A windows, no buffer, never last
            assert (w.lo, w.hi) == (w.commit_lo, w.commit_hi) and w.hi - w.lo == n_buf
            assert [plan.windows[a].layer for a in w.depends] == ["A", "A"]


def test_plan_rejects_bad_values():
    with pytest.raises(ValueError, match=r"n_buf=0 must be an integer >= 1"):
        WindowPlan(num_slices=10, n_com=3, n_buf=0)
    with pytest.raises(ValueError, match=r"num_slices=1 must be >= 2"):
        WindowPlan(num_slices=1, n_com=3, n_buf=3)


def test_slice_layout_matches_geometry():
    from qec import Geometry

    task = Task(distance=5, rounds=9, basis="Z", noise=NoiseModel.si1000(0.002))
    geo = Geometry.from_circuit(task.circuit())
    lay = SliceLayout.of_task(task)
    assert lay.num_detectors == geo.num_detectors
    for t in range(lay.num_slices):
        ids = np.flatnonzero(geo.det_round == t)
        assert (ids.min(), ids.max() + 1) == (lay.start(t), lay.start(t + 1))


def _graph_table(graph):
    return graph.edge_keys, graph.edge_obs, graph.edge_prob


@pytest.mark.parametrize("basis,noise,rounds,n_com,n_buf", [
    ("X", NoiseModel.uniform(0.004), 40, 3, 3),
    ("Z", NoiseModel.si1000(0.003), 33, 2, 4),
])
def test_template_windows_equal_the_full_dem_restricted(basis, noise, rounds, n_com, n_buf):
    """Every window built from the short template is the full experiment's window exactly."""
    task = Task(distance=3, rounds=rounds, basis=basis, noise=noise)
    plan = WindowPlan(num_slices=rounds + 1, n_com=n_com, n_buf=n_buf)
    short, full = WindowGraphs(task, plan), WindowGraphs(task, plan, full=True)
    assert short.template_slices < rounds + 1
    for w in plan.windows:
        (ka, oa, pa), (kb, ob, pb) = _graph_table(short.for_window(w)), _graph_table(
            full.for_window(w))
        assert np.array_equal(ka, kb) and np.array_equal(oa, ob), w
        np.testing.assert_allclose(pa, pb, rtol=1e-9, err_msg=str(w))


def test_restrict_graph_cuts_open_sides_to_boundary_and_drops_closed_sides():
    import stim

    g = MatchingGraph.from_dem(stim.DetectorErrorModel("""
        error(0.1) D0 D1
        error(0.2) D1 D2
        error(0.05) D2 D3 L0
        error(0.3) D1
    """))
    open_ = restrict_graph(g, 1, 3, open_left=True, open_right=True)
    # Local detectors 0, 1 (= D1, D2); key a * 3 + (b + 1). (0, -1) merges D1's own boundary
    # edge 0.3 with the cut edge D0-D1 0.1 (same observable); (1, -1) is the cut D2-D3.
    assert open_.edge_keys.tolist() == [0 * 3 + 0, 0 * 3 + 2, 1 * 3 + 0]
    np.testing.assert_allclose(open_.edge_prob, [0.3 + 0.1 - 2 * 0.03, 0.2, 0.05])
    assert open_.edge_obs.tolist() == [0, 0, 1]
    closed = restrict_graph(g, 1, 3, open_left=False, open_right=False)
    np.testing.assert_allclose(closed.edge_prob, [0.3, 0.2])


@pytest.mark.parametrize("distance,rounds,n_com,n_buf", [(3, 30, 3, 3), (5, 40, 4, 5)])
def test_committed_edges_explain_every_defect_exactly_once(distance, rounds, n_com, n_buf):
    task = Task(distance=distance, rounds=rounds, noise=NoiseModel.si1000(0.004))
    worker = WindowWorker(task=task, plan=WindowPlan(num_slices=rounds + 1, n_com=n_com,
                                                     n_buf=n_buf))
    dets, _, _ = _sample(task, 150, seed=11)
    pred, edges = worker.decode_all(dets, return_edges=True)
    full = MatchingGraph.from_dem(task.dem())
    known = {tuple(e) for e in full.edge_dets.tolist()}
    obs_of = dict(zip(map(tuple, full.edge_dets.tolist()), full.edge_obs.tolist()))
    for s in range(len(dets)):
        assert np.array_equal(_syndrome(edges[s], dets.shape[1]), dets[s]), s
        pairs = [tuple(sorted(p)) if p[1] >= 0 else tuple(p) for p in edges[s].tolist()]
        assert len(set(pairs)) == len(pairs)  # no edge committed twice
        assert set(pairs) <= known  # only real edges of the experiment
        flip = np.bitwise_xor.reduce([obs_of[p] for p in pairs]) if pairs else 0
        assert bool(flip & 1) == pred[s, 0]


def test_windowed_agrees_with_global_matching():
    task = Task(distance=5, rounds=50, noise=NoiseModel.uniform(0.004))
    dets, obs, packed = _sample(task, 600, seed=3)
    windowed = WindowedDecoder.for_task(task, n_com=5, n_buf=5)
    pred = unpack_bits(windowed.decode_batch(packed), 1).astype(bool)
    glob = unpack_bits(MatchingDecoder.from_dem(task.dem()).decode_batch(packed), 1).astype(bool)
    disagree = int((pred != glob).sum())
    assert disagree <= 0.03 * len(dets), disagree
    # Both are real decoders: far better than the 50% of guessing.
    assert (pred != obs).mean() < 0.25 and (glob != obs).mean() < 0.25


def test_one_window_spanning_the_experiment_is_global_matching():
    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.01))
    dets, _, packed = _sample(task, 500, seed=4)
    plan = WindowPlan(num_slices=13, n_com=13, n_buf=13)
    assert len(plan.windows) == 1
    pred = WindowWorker(task=task, plan=plan).decode_all(dets)
    glob = unpack_bits(MatchingDecoder.from_dem(task.dem()).decode_batch(packed), 1)
    assert np.array_equal(pred, glob.astype(bool))


def test_decode_rejects_malformed_window_input():
    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.01))
    worker = WindowWorker(task=task, plan=WindowPlan(num_slices=13, n_com=3, n_buf=3))
    lo, hi = worker.window_range(worker.plan.windows[0])
    with pytest.raises(TypeError, match=r"window 0 has dtype float64"):
        worker.decode(0, np.zeros((2, hi - lo)))
    with pytest.raises(ValueError,
                       match=rf"window 0 has shape \(2, 3\); expected \(shots, {hi - lo}\)"):
        worker.decode(0, np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"plan.num_slices=10 must be task.rounds \+ 1 = 13"):
        WindowWorker(task=task, plan=WindowPlan(num_slices=10, n_com=3, n_buf=3))


# --- the pre-pass hook --------------------------------------------------------------------

class TimelikePairPrepass:
    """An exact local pre-pass: a defect pair on one cell in consecutive bulk slices, alone in
    both slices, is explained by the measurement-error edge between them (what matching would
    almost always choose); its observable effect (read from the DEM) is the reported flip."""

    def __init__(self, task: Task) -> None:
        lay = SliceLayout.of_task(task)
        graph = MatchingGraph.from_dem(task.dem())
        obs = dict(zip(map(tuple, graph.edge_dets.tolist()), graph.edge_obs.tolist()))
        a0, nb = lay.start(3), lay.n_bulk  # a bulk slice; edges are time-invariant there
        self.nb = nb
        self.edge_obs = np.array([obs[(a0 + k, a0 + nb + k)] for k in range(nb)]) & 1
        self.removed = 0

    def __call__(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nb, residual = self.nb, block.copy()
        flip = np.zeros((block.shape[0], 1), dtype=bool)
        # Only blocks of whole bulk slices (first/last slices have other sizes).
        if block.shape[1] % nb == 0 and block.shape[1] >= 2 * nb:
            for k in range(0, block.shape[1] - nb, nb):
                lone = residual[:, k:k + 2 * nb].sum(axis=1, keepdims=True) == 2
                pair = residual[:, k:k + nb] & residual[:, k + nb:k + 2 * nb] & lone
                residual[:, k:k + nb] ^= pair
                residual[:, k + nb:k + 2 * nb] ^= pair
                flip[:, 0] ^= (pair & self.edge_obs.astype(bool)).sum(axis=1) % 2 == 1
                self.removed += int(pair.sum())
        return residual, flip


def test_prepass_hook_identity_flip_and_exact_pairs():
    task = Task(distance=5, rounds=36, noise=NoiseModel.uniform(0.004))
    plan = WindowPlan(num_slices=37, n_com=4, n_buf=3)
    dets, obs, _ = _sample(task, 400, seed=8)
    base = WindowWorker(task=task, plan=plan).decode_all(dets)

    def identity(block):
        return block, np.zeros((block.shape[0], 1), dtype=bool)

    assert np.array_equal(WindowWorker(task=task, plan=plan, prepass=identity).decode_all(dets),
                          base)

    def flip_all(block):  # reports a logical flip per block: predictions must follow
        return block, np.ones((block.shape[0], 1), dtype=bool)

    flipped = WindowWorker(task=task, plan=plan, prepass=flip_all).decode_all(dets)
    assert np.array_equal(flipped, base ^ (len(plan.windows) % 2 == 1))

    pairs = TimelikePairPrepass(task)
    with_pairs = WindowWorker(task=task, plan=plan, prepass=pairs).decode_all(dets)
    assert pairs.removed > 100  # the pre-pass really did commit corrections
    assert (with_pairs != base).mean() <= 0.02
    assert (with_pairs != obs).mean() < 0.2  # still a decoder, not noise


def test_prepass_with_wrong_shapes_is_rejected():
    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.01))
    plan = WindowPlan(num_slices=13, n_com=3, n_buf=3)
    dets, _, _ = _sample(task, 2, seed=1)

    def bad(block):
        return block[:, 1:], np.zeros((block.shape[0], 1), dtype=bool)

    with pytest.raises(ValueError, match=r"prepass residual has shape"):
        WindowWorker(task=task, plan=plan, prepass=bad).decode_all(dets)


def test_predecoder_prepass_commits_exact_corrections_inside_each_block():
    """The AI pre-decoder (random weights: any commits at all) plugged into the windows:
    every committed correction, pre-decoder edges plus matched edges, explains the syndrome."""
    torch = pytest.importorskip("torch")
    from pipelines.windows import PredecoderPrepass
    from predecoder import ModelConfig, PreDecoderNet

    torch.manual_seed(0)
    net = PreDecoderNet(ModelConfig(widths=(8,))).eval()
    task = Task(distance=3, rounds=30, noise=NoiseModel.uniform(0.01))
    plan = WindowPlan(num_slices=31, n_com=3, n_buf=3)
    pre = PredecoderPrepass(task=task, plan=plan, net=net, threshold=0.0, rule="supported")
    seen: list[np.ndarray] = []  # global detector pairs the pre-decoder committed, per call

    class Recording:
        def for_block(self, window):
            def run(block):
                residual, flip, edges = pre.run_block(window, block)
                lay = pre.edge_layout()
                tpl = SliceLayout(pre.layout.n_first, pre.layout.n_bulk, pre.layout.n_last,
                                  pre.template_slices)
                from pipelines.window_graphs import _template_offset

                shift = pre.layout.start(window.commit_lo) - tpl.start(_template_offset(
                    window.commit_lo, window.commit_hi, 31, pre.template_slices))
                pairs = lay.graph.edge_dets.copy()
                pairs[pairs >= 0] += shift
                seen.append([pairs[e] for e in edges])
                return residual, flip
            return run

    dets, _, _ = _sample(task, 40, seed=2)
    pred, matched = WindowWorker(task=task, plan=plan, prepass=Recording()).decode_all(
        dets, return_edges=True)
    assert pre.kept_edges > 20  # the pre-decoder did commit corrections
    full = MatchingGraph.from_dem(task.dem())
    obs_of = dict(zip(map(tuple, full.edge_dets.tolist()), full.edge_obs.tolist()))
    for s in range(len(dets)):
        pre_edges = np.concatenate([call[s] for call in seen])
        total = np.concatenate([pre_edges, matched[s]])
        assert np.array_equal(_syndrome(total, dets.shape[1]), dets[s]), s
        flip = 0
        for p in total.tolist():
            flip ^= obs_of[tuple(p)]  # KeyError if an edge is not the experiment's
        assert bool(flip & 1) == pred[s, 0]
