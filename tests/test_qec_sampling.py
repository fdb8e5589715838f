import numpy as np
import pytest

from qec import NoiseModel, Task, sample_dem, sample_detectors, unpack_bits


@pytest.fixture(scope="module")
def task():
    return Task(distance=3, noise=NoiseModel.uniform(0.01))


def _all(chunks):
    chunks = list(chunks)
    return np.concatenate([c.dets for c in chunks]), np.concatenate([c.obs for c in chunks])


def test_same_seed_same_shots_other_seed_other_shots(task):
    a = _all(sample_detectors(task.circuit(), shots=3000, seed=5, chunk_shots=1000))
    b = _all(sample_detectors(task.circuit(), shots=3000, seed=5, chunk_shots=1000))
    c = _all(sample_detectors(task.circuit(), shots=3000, seed=6, chunk_shots=1000))
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert (a[0] != c[0]).any()


def test_prefix_does_not_depend_on_total_shots(task):
    short = _all(sample_detectors(task.circuit(), shots=1500, seed=2, chunk_shots=1000))
    long = _all(sample_detectors(task.circuit(), shots=4000, seed=2, chunk_shots=1000))
    assert (long[0][:1500] == short[0]).all()


def test_chunks_bound_memory_and_use_stim_packing(task):
    chunks = list(sample_detectors(task.circuit(), shots=2500, seed=1, chunk_shots=1000))
    assert [c.shots for c in chunks] == [1000, 1000, 500]
    d = task.circuit().num_detectors
    assert chunks[0].dets.dtype == np.uint8 and chunks[0].dets.shape == (1000, (d + 7) // 8)
    ref = task.circuit().compile_detector_sampler(seed=9).sample(200, bit_packed=True)
    unpacked = task.circuit().compile_detector_sampler(seed=9).sample(200)
    assert (unpack_bits(ref[:, : (d + 7) // 8], d) == unpacked[:, :d]).all()


def test_dem_sampling_returns_fired_mechanisms(task):
    dem = task.dem()
    chunk = next(sample_dem(dem, shots=500, seed=3))
    num_errors = sum(1 for i in dem.flattened() if i.type == "error")
    assert chunk.errors is not None and chunk.errors.shape == (500, (num_errors + 7) // 8)
    assert unpack_bits(chunk.errors, num_errors).any()


def test_bad_shots_and_seed(task):
    with pytest.raises(ValueError, match=r"shots=-1 must be an integer >= 0"):
        list(sample_detectors(task.circuit(), shots=-1, seed=0))
    with pytest.raises(ValueError, match=r"seed=-3 must be an integer >= 0"):
        list(sample_detectors(task.circuit(), shots=1, seed=-3))
