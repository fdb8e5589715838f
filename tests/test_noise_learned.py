"""The paper's learned estimator: parameters, implied edges, encoding, training, weights file."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from noise.learned import (  # noqa: E402
    NUM_PARAMS,
    LearnedConfig,
    LearnedTrainConfig,
    build_model,
    edge_response,
    encode_rounds,
    load_result,
    noise_of,
    params_of,
    predict_noise,
    save_result,
    train_learned,
)
from noise.structure import NoiseStructure  # noqa: E402
from qec import Geometry, MatchingGraph, NoiseModel, Task, sample_detectors  # noqa: E402

TINY = LearnedConfig(widths=(8, 8), mlp=(8, 16, 8), groups=4)


def test_params_round_trip_through_noise_model():
    noise = NoiseModel.si1000(0.003)
    q = params_of(noise)
    assert q.shape == (NUM_PARAMS,)
    back = noise_of(q)
    np.testing.assert_allclose(params_of(back), q)
    with pytest.raises(ValueError, match=r"expected \(32,\)"):
        noise_of(np.zeros(3))


def test_implied_edges_match_stim_to_first_order():
    task = Task(distance=3, noise=NoiseModel.si1000(0.002))
    structure = NoiseStructure.from_task(task)
    a = edge_response(task, structure)
    implied = (1 - np.exp(-a @ params_of(task.noise))) / 2
    truth = MatchingGraph.from_dem(task.dem())
    key = {tuple(e): p for e, p in zip(truth.edge_dets.tolist(), truth.edge_prob.tolist())}
    want = np.array([key[tuple(e)] for e in structure.graph.edge_dets.tolist()])
    # Second-order terms (p^2) are all that is missing at p = 0.002.
    np.testing.assert_allclose(implied, want, rtol=0.03)


def test_encoding_has_four_channels_on_the_check_grid():
    task = Task(distance=3, noise=NoiseModel.uniform(0.02))
    geo = Geometry.from_circuit(task.circuit())
    chunk = next(sample_detectors(task.circuit(), shots=50, seed=0))
    x = encode_rounds(chunk.dets, geo)
    assert x.shape == (50, 4, 4, 4) and x.dtype == np.float32
    assert not x[:, 0][:, ~geo.x_present].any() and not x[:, 1][:, ~geo.z_present].any()
    assert x.sum() > 0


def test_tiny_model_trains_saves_loads_and_predicts_bounded(tmp_path):
    torch.manual_seed(1)
    initial = build_model(TINY).state_dict()        # what train_learned starts from (seed 1)
    result = train_learned(TINY, LearnedTrainConfig(distance=3, steps=60, shots_per_model=32,
                                                    lr=3e-3, seed=1))
    losses = np.array(result.losses)
    assert result.steps == 60 and np.isfinite(losses).all()
    # The optimiser really learns: the weights move and the loss falls (seeded, so this is
    # deterministic; without the optimiser step both checks fail).
    assert any(not torch.equal(initial[k], result.state[k]) for k in initial)
    assert losses[-15:].mean() < 0.7 * losses[:15].mean()
    path = tmp_path / "cnn.safetensors"
    save_result(result, path)
    state, cfg = load_result(path)
    assert cfg == TINY
    task = Task(distance=5, noise=NoiseModel.uniform(0.004))  # another distance: pooling
    chunks = sample_detectors(task.circuit(), shots=300, seed=2)
    noise, shots = predict_noise(state, cfg, chunks, Geometry.from_circuit(task.circuit()))
    q = params_of(noise)
    assert shots == 300 and ((q >= TINY.q_min * 0.999) & (q <= TINY.q_max * 1.001)).all()
    Task(distance=5, noise=noise).dem()  # a valid noise model for stim
