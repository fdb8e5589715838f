"""The layered decoder's ladder on Google's Sycamore data (d = 5, X basis), for bench/layered.py.

    python -m bench layered --sycamore DATA_DIR [--sycamore-shots N]

``DATA_DIR`` holds the published experiments (``surface_code_bX_d5_r05_center_5_5`` and so on;
Google Quantum AI, "Suppressing quantum errors by scaling a surface code logical qubit",
Nature 614, 676-681 (2023); data set doi:10.5281/zenodo.6804040, CC BY 4.0). Per experiment,
the first N shots are decoded by the same decoders as the simulated points, every matcher and
referee on the decomposed DEM of Google's noisy circuit (``circuit_noisy.stim``), the network
being the shipped uniform-noise ``small`` model (never trained on this device); Google's own
prediction files (belief-matching, tensor-network contraction) on the same shots are added as
reference rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EXPERIMENTS = ("surface_code_bX_d5_r05_center_5_5",)
GOOGLE_REFERENCES = {
    "google:belief-matching": "obs_flips_predicted_by_belief_matching.01",
    "google:tensor-network": "obs_flips_predicted_by_tensor_network_contraction.01"}
CREDIT = ("Google Quantum AI, Nature 614, 676-681 (2023); data doi:10.5281/zenodo.6804040, "
          "CC BY 4.0")


def experiment_chunks(folder: Path, shots: int, chunk: int):
    """(circuit, [(dets bit-packed, obs bit-packed), ...]) of the first ``shots`` shots."""
    import stim

    from qec import read_sample_file

    circuit = stim.Circuit.from_file(folder / "circuit_noisy.stim")
    dets = read_sample_file(folder / "detection_events.b8", format="b8",
                            num_detectors=circuit.num_detectors).dets[:shots]
    obs = _observables(folder / "obs_flips_actual.01", circuit.num_observables)[:shots]
    if dets.shape[0] < shots or obs.shape[0] < shots:
        raise ValueError(f"{folder} holds {min(dets.shape[0], obs.shape[0])} shots; "
                         f"{shots} asked")
    return circuit, [(dets[s:s + chunk], obs[s:s + chunk]) for s in range(0, shots, chunk)]


def _observables(path: Path, num_observables: int) -> np.ndarray:
    """A '01' file of observable flips -> (S, ceil(O/8)) uint8 bit-packed."""
    from qec import read_sample_file

    return read_sample_file(path, format="01", num_observables=num_observables).obs


def google_rows(folder: Path, shots: int, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Google's prediction files on the same shots: name -> (S,) bool 'was wrong'
    (``truth``: (S, O) bool actual flips)."""
    from qec import unpack_bits

    num_obs = truth.shape[1]
    return {name: (unpack_bits(_observables(folder / file, num_obs)[:shots], num_obs)
                   != truth).any(axis=1) for name, file in GOOGLE_REFERENCES.items()}
