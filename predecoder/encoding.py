"""Detection events -> the network's input tensor. The one encoding, for training and inference.

Channels (C = 4), on the (T, H, W) grid of :class:`qec.Geometry`:

0. detection events (0/1);
1. detector present (the cell holds a detector in that round: first/last rounds hold only the
   memory basis);
2. X-stabilizer map, 3. Z-stabilizer map (static, broadcast over T).

Examples:
    >>> import numpy as np
    >>> from qec import Geometry, memory_circuit
    >>> g = Geometry.from_circuit(memory_circuit(distance=3, rounds=2, basis="X"))
    >>> x = encode(np.zeros((5, g.num_detectors), dtype=bool), g)
    >>> tuple(x.shape), int(x[0, 1].sum()) == g.num_detectors
    ((5, 4, 3, 4, 4), True)
"""

from __future__ import annotations

import numpy as np

from qec import Geometry, InputError

IN_CHANNELS = 4
CHANNELS = ("events", "detector_present", "x_stabilizer", "z_stabilizer")


def static_channels(geometry: Geometry) -> np.ndarray:
    """(3, T, H, W) float32: detector-present mask, X map, Z map."""
    t, h, w = geometry.shape
    present = (geometry.index >= 0).astype(np.float32)
    x_map = np.broadcast_to(geometry.x_present.astype(np.float32), (t, h, w))
    z_map = np.broadcast_to(geometry.z_present.astype(np.float32), (t, h, w))
    return np.stack([present, x_map, z_map])


def encode(dets, geometry: Geometry, *, device=None):
    """(S, D) 0/1 detection events in stim's order -> (S, 4, T, H, W) float32 torch tensor.

    Args:
        dets: numpy array or torch tensor (on any device) of shape (S, D), 0/1 or bool.
        geometry: the circuit's geometry.
        device: torch device of the result (default: that of ``dets``, CPU for numpy).
    """
    import torch

    if not isinstance(dets, torch.Tensor):
        dets = torch.from_numpy(np.ascontiguousarray(dets))
    if dets.ndim != 2 or dets.shape[1] != geometry.num_detectors:
        raise InputError(f"dets has shape {tuple(dets.shape)}; expected "
                         f"(shots, {geometry.num_detectors})")
    device = dets.device if device is None else torch.device(device)
    dets = dets.to(device)
    s = dets.shape[0]
    t, h, w = geometry.shape
    flat = torch.as_tensor((geometry.det_round * h + geometry.det_row) * w + geometry.det_col,
                           device=device)
    x = torch.zeros((s, IN_CHANNELS, t * h * w), dtype=torch.float32, device=device)
    x[:, 0, flat] = dets.to(torch.float32)                         # (S, D) scattered into T*H*W
    x[:, 1:] = torch.as_tensor(static_channels(geometry), device=device).reshape(3, -1)
    return x.reshape(s, IN_CHANNELS, t, h, w)                      # (B, C, T, H, W)
