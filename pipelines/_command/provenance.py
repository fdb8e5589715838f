"""What made a result: the records every output of the CLI carries (run, decode, stream,
learn-noise), and the sinter CSV metadata built from them.

- ``noise``: name, p, the per-qubit multipliers' seed (None: none) and the noise fingerprint;
- ``weights``: where the matching weights came from: ``true`` (the task's own DEM),
  ``learned`` (with the estimator, its shots and its seed), ``uniform``, or ``file`` (its path,
  a short SHA-256 of its bytes and what it was learned from);
- ``model``: the pre-decoder's model as given (a shipped name or a path), its file name and a
  short SHA-256 of the file; None where no decoder uses one.

The CSV metadata holds what changes the experiment or the decoder (task, noise, weights
source, model hash), never the seed: ``sinter combine`` merges rows of independent shots of the
same experiment, and only those.
"""

from __future__ import annotations

import json
from pathlib import Path

from qec import InputError, Task, file_sha256


def noise_record(task: Task, *, multipliers_seed: int | None) -> dict:
    """``{"name", "p", "multipliers_seed", "fingerprint"}`` of ``task``'s noise.

    Examples:
        >>> from qec import NoiseModel
        >>> noise_record(Task(distance=3, noise=NoiseModel.uniform(0.001)),
        ...              multipliers_seed=None)["multipliers_seed"] is None
        True
    """
    return {"name": task.noise.name, "p": task.noise.p, "multipliers_seed": multipliers_seed,
            "fingerprint": task.noise.fingerprint}


def model_record(model: str | Path | None) -> dict:
    """``{"name", "file", "sha256"}`` of a pre-decoder model (None: the shipped default).

    ``sha256`` is the first 12 hex digits of the weights file's hash: two results name the same
    model iff these agree, whatever the file was called.
    """
    from predecoder.weights import DEFAULT_MODEL, resolve_model

    path = resolve_model(model)
    return {"name": DEFAULT_MODEL if model is None else str(model), "file": path.name,
            "sha256": file_sha256(path)}


def weights_record(weights: str | Path, *, learn_shots: int, seed: int) -> dict:
    """Where the matching weights of ``run --weights`` come from (see the module notes)."""
    from noise.task_weights import learn_seed

    name = str(weights)
    if name in ("true", "uniform"):
        return {"source": name}
    if name == "learned":
        return {"source": "learned", "method": "mechanisms", "shots": learn_shots,
                "seed": learn_seed(seed)}
    return {"source": "file", "path": name, "sha256": file_sha256(name),
            "learned_from": _weights_file_source(Path(name))}


def _weights_file_source(path: Path) -> dict:
    """The ``source`` object a weights.json records (how its samples were obtained)."""
    try:
        return dict(json.loads(path.read_text()).get("source", {}))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        # run has already loaded and checked the file; a file changed since then is refused
        raise InputError(f"--weights={str(path)!r} cannot be read back: {exc}") from exc


def csv_metadata(task: Task, *, noise: dict, weights: dict) -> dict:
    """A CSV row's metadata shared by every decoder of a run: the task (sinter users' keys),
    the noise multipliers' seed when there is one, and the weights source (a file by hash)."""
    meta = task.sinter_metadata()
    if noise["multipliers_seed"] is not None:
        meta["multipliers_seed"] = noise["multipliers_seed"]
    source = weights["source"]
    meta["weights"] = f"file:{weights['sha256']}" if source == "file" else source
    if source == "learned":
        meta["learn_shots"] = weights["shots"]
    return meta


def csv_model_metadata(model: dict) -> dict:
    """The metadata only the pre-decoder's rows carry: the model's name and hash."""
    return {"model": model["name"], "model_sha256": model["sha256"]}
