"""From detection events to committed edges, residual detectors and the logical flip.

The pipeline of one batch (any device):

    dets (S, D) -> encode -> (S, 4, T, H, W) -> network, whole or tile by tile -> logits
    (S, K, T, H, W) -> committed edges (S, E) -> residual = dets XOR H e, flip = L e

The residual is in stim's detector order and length, so any matcher built from the ORIGINAL
DEM decodes it; prediction = matcher(residual) XOR flip (``pipelines.PredecoderPipeline``).

Two modes (:class:`CommitPolicy`):

- ``hard`` (the paper's rule, the speed mode): commit edges above a logit threshold; the
  matcher decodes the residual with the DEM's static weights, so a wrong commit is final;
- ``soft`` (the accuracy mode): commit every edge with logit l > 0 and hand the matcher
  per-shot weights |l| (:func:`soft_weights`). Matching the residual with weights |l| is the
  same decision as matching the raw syndrome with weights -l: un-committing a committed edge
  costs its l, so the matcher can undo the network's mistakes. BCE on the true fired edges
  makes l an estimate of the log-odds of each edge given the syndrome around it, which is
  what a matching weight should be. Only edges with |l| < ``cap`` are sent; every other edge
  keeps weight ``cap`` (the base weight of the soft matcher).

Commit rules of the hard mode (measure them, bench/predecoder.py):

- ``threshold``: every valid slot with logit > threshold;
- ``supported``: additionally both endpoints of the edge carry a detection event (its one
  endpoint for a boundary edge) and no other committed edge touches those defects, so every
  commit removes whole defect pairs and never creates a new defect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from predecoder.device_bits import pack_from_device, unpack_to_device
from predecoder.edges import EdgeLayout
from predecoder.encoding import encode
from qec import InputError, InputTypeError, SparseEdgeWeights

COMMIT_RULES = ("threshold", "supported")
MODES = ("hard", "soft")
DEFAULT_SOFT_CAP = 8.0


@dataclass(frozen=True)
class CommitPolicy:
    """How edge logits become committed edges (and, in soft mode, per-shot matching weights).

    Build with :meth:`hard` or :meth:`soft`.

    Attributes:
        mode: 'hard' or 'soft' (see the module docstring).
        threshold: hard mode: commit logit > threshold (soft mode: 0).
        rule: hard mode: one of :data:`COMMIT_RULES` (soft mode: 'threshold').
        cap: soft mode: edges with |logit| >= cap keep weight cap (natural-log units).

    Examples:
        >>> CommitPolicy.soft().describe(), CommitPolicy.hard(4.0).describe()
        ('soft (weights |logit| capped at 8)', 'hard (commit logit > 4, rule threshold)')
    """

    mode: str = "hard"
    threshold: float = 0.0
    rule: str = "threshold"
    cap: float = DEFAULT_SOFT_CAP

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode={self.mode!r} must be one of {', '.join(MODES)}")
        if self.rule not in COMMIT_RULES:
            raise InputError(f"rule={self.rule!r} must be one of {', '.join(COMMIT_RULES)}")
        if not math.isfinite(self.threshold):
            raise InputError(f"threshold={self.threshold} must be a finite logit")
        if not (math.isfinite(self.cap) and self.cap > 0):
            raise InputError(f"cap={self.cap} must be a finite weight > 0")
        if self.mode == "soft" and (self.threshold != 0 or self.rule != "threshold"):
            raise InputError(f"soft mode commits logit > 0 under rule 'threshold'; got "
                             f"threshold={self.threshold}, rule={self.rule!r}")

    @classmethod
    def hard(cls, threshold: float, rule: str = "threshold") -> CommitPolicy:
        return cls(mode="hard", threshold=float(threshold), rule=rule)

    @classmethod
    def soft(cls, cap: float = DEFAULT_SOFT_CAP) -> CommitPolicy:
        return cls(mode="soft", cap=float(cap))

    @property
    def soft_mode(self) -> bool:
        return self.mode == "soft"

    @property
    def label(self) -> str:
        """Short name in tables and result files: 'soft', 'hard@4', 'hard@0/supported'."""
        if self.soft_mode:
            return "soft" if self.cap == DEFAULT_SOFT_CAP else f"soft@cap{self.cap:g}"
        return f"hard@{self.threshold:g}" + ("" if self.rule == "threshold" else f"/{self.rule}")

    def describe(self) -> str:
        if self.soft_mode:
            return f"soft (weights |logit| capped at {self.cap:g})"
        return f"hard (commit logit > {self.threshold:g}, rule {self.rule})"


@dataclass(frozen=True)
class Corrections:
    """One batch after the pre-decoder. (S, ·) bool tensors on the model's device;
    :attr:`residual_bit_packed` and :attr:`flip_bit_packed` give the library's convention
    (bit-packed numpy), which every matcher's ``decode_batch`` takes.

    ``weights`` (soft mode only): per-shot matching weights |logit| of the edges with
    |logit| < cap, as numpy CSR rows (:class:`qec.SparseEdgeWeights`).
    """

    edges: torch.Tensor       # (S, E) committed edges
    residual: torch.Tensor    # (S, D) dets XOR syndrome(edges), stim's order
    flip: torch.Tensor        # (S, O) observables flipped by the committed edges
    weights: SparseEdgeWeights | None = None

    @property
    def residual_bit_packed(self) -> np.ndarray:
        """(S, ceil(D/8)) uint8: the residual, bit-packed in stim's little-endian order."""
        return pack_from_device(self.residual)

    @property
    def flip_bit_packed(self) -> np.ndarray:
        """(S, ceil(O/8)) uint8: the committed edges' observable flip, bit-packed."""
        return pack_from_device(self.flip)


def volume_logits(net: torch.nn.Module, x: torch.Tensor, *,
                  tile: tuple[int, int, int] | None = None) -> torch.Tensor:
    """(S, C, T, H, W) -> (S, K, T, H, W) logits, whole-volume or tile by tile.

    Tiles of ``tile`` = (t, h, w) cells are run with a halo of (R - 1) / 2 cells of real
    context on every side (clipped at the volume's own faces, where the convolution's zero
    padding is the whole-volume behaviour too), so the result equals the whole-volume output
    and memory is bounded by one tile plus halo.
    """
    x = x.contiguous(memory_format=torch.channels_last_3d)   # ~30% faster Conv3d on CPU
    if tile is None:
        return net(x)
    if len(tile) != 3 or min(tile) < 1:
        raise InputError(f"tile={tile} must be three ints >= 1 (t, h, w)")
    halo = net.config.halo
    dims = x.shape[2:]
    out = torch.empty((x.shape[0], net.config.num_classes, *dims), dtype=x.dtype,
                      device=x.device)
    for t0 in range(0, dims[0], tile[0]):
        for h0 in range(0, dims[1], tile[1]):
            for w0 in range(0, dims[2], tile[2]):
                core = [(s, min(s + n, size)) for s, n, size in zip((t0, h0, w0), tile, dims)]
                ext = [(max(a - halo, 0), min(b + halo, size)) for (a, b), size in zip(core, dims)]
                y = net(x[:, :, ext[0][0]:ext[0][1], ext[1][0]:ext[1][1], ext[2][0]:ext[2][1]])
                crop = [slice(a - ea, b - ea) for (a, b), (ea, _) in zip(core, ext)]
                out[:, :, core[0][0]:core[0][1], core[1][0]:core[1][1],
                    core[2][0]:core[2][1]] = y[:, :, crop[0], crop[1], crop[2]].to(out.dtype)
    return out


def edge_logits(logits: torch.Tensor, layout: EdgeLayout) -> torch.Tensor:
    """(S, K, T, H, W) -> (S, E) logits of the graph's edges (invalid slots dropped)."""
    slot = torch.as_tensor(layout.edge_slot, device=logits.device)
    return logits.reshape(logits.shape[0], -1)[:, slot]


def commit(edge_logit: torch.Tensor, dets: torch.Tensor, layout: EdgeLayout, *,
           threshold: float, rule: str = "threshold") -> torch.Tensor:
    """(S, E) logits -> (S, E) bool committed edges under ``rule`` (:data:`COMMIT_RULES`)."""
    if rule not in COMMIT_RULES:
        raise InputError(f"rule={rule!r} must be one of {', '.join(COMMIT_RULES)}")
    chosen = edge_logit > threshold
    if rule == "supported":
        a, b = _endpoints(layout, dets.device)
        dets = dets.to(torch.bool)
        on_b = torch.where(b >= 0, dets[:, b.clamp(min=0)], torch.ones_like(chosen))
        chosen &= dets[:, a] & on_b
        touches = _syndrome_counts(chosen, layout, count=True)       # (S, D) committed per det
        alone_a = touches[:, a] == 1
        alone_b = torch.where(b >= 0, touches[:, b.clamp(min=0)] == 1, torch.ones_like(chosen))
        chosen &= alone_a & alone_b
    return chosen


def apply_edges(dets: torch.Tensor, edges: torch.Tensor, layout: EdgeLayout) -> Corrections:
    """Residual = dets XOR syndrome(edges); flip = observables(edges). Exact bookkeeping."""
    syndrome = _syndrome_counts(edges, layout, count=False)
    residual = dets.to(torch.bool) ^ syndrome
    obs = torch.as_tensor(layout.graph.edge_obs, device=edges.device)
    num_obs = layout.graph.num_observables
    bits = torch.stack([((obs >> k) & 1).bool() for k in range(num_obs)], dim=1)  # (E, O)
    flip = (edges.to(torch.float32) @ bits.to(torch.float32)).remainder(2).bool()
    return Corrections(edges=edges, residual=residual, flip=flip)


MAX_CELLS = 1 << 20   # cells per forward pass: ~128 MB per 32-channel activation (float32)


def shot_logits(net: torch.nn.Module, dets: torch.Tensor, layout: EdgeLayout, *,
                tile: tuple[int, int, int] | None = None,
                max_cells: int = MAX_CELLS) -> torch.Tensor:
    """(S, D) detection events -> (S, E) float32 edge logits, in shot micro-batches of at most
    ``max_cells`` grid cells, so memory stays bounded for any number of shots."""
    per_batch = max(1, max_cells // max(1, int(np.prod(layout.shape))))
    out = []
    with torch.inference_mode():
        for start in range(0, dets.shape[0], per_batch):
            x = encode(dets[start:start + per_batch], layout.geometry)   # (B, C, T, H, W)
            out.append(edge_logits(volume_logits(net, x, tile=tile).float(), layout))
    if not out:
        return torch.zeros((0, layout.num_edges), device=dets.device)
    return torch.cat(out)


def soft_weights(edge_logit: torch.Tensor, *, cap: float,
                 edge_mask: torch.Tensor | None = None) -> SparseEdgeWeights:
    """(S, E) logits -> per-shot weights |l| of the edges with |l| < ``cap`` (CSR rows),
    restricted to ``edge_mask`` ((E,) bool) when given."""
    magnitude = edge_logit.abs()
    send = magnitude < cap
    if edge_mask is not None:
        send &= edge_mask
    shot, edge = torch.nonzero(send, as_tuple=True)               # row-major: sorted by shot
    return SparseEdgeWeights.from_coo(shots=edge_logit.shape[0], shot=shot.cpu().numpy(),
                                      edge=edge.cpu().numpy(),
                                      weight=magnitude[shot, edge].double().cpu().numpy())


def corrections(edge_logit: torch.Tensor, dets: torch.Tensor, layout: EdgeLayout,
                policy: CommitPolicy, *, edge_mask: torch.Tensor | None = None) -> Corrections:
    """The one step from (S, E) logits to :class:`Corrections` under ``policy``.

    ``edge_mask`` ((E,) bool) limits commits and soft weights to some edges (a block of a
    longer experiment owns the edges anchored in it). Refuses non-finite logits (a broken
    model file), which would otherwise commit nothing and decode silently as the matcher alone.
    """
    if not bool(torch.isfinite(edge_logit).all()):
        raise InputError("the pre-decoder produced non-finite logits (NaN or inf): the model "
                         "file's weights are corrupt")
    with torch.inference_mode():
        edges = commit(edge_logit, dets, layout, threshold=policy.threshold, rule=policy.rule)
        if edge_mask is not None:
            edges &= edge_mask
        corr = apply_edges(dets, edges, layout)
    if not policy.soft_mode:
        return corr
    return Corrections(edges=corr.edges, residual=corr.residual, flip=corr.flip,
                       weights=soft_weights(edge_logit, cap=policy.cap, edge_mask=edge_mask))


def predecode(net: torch.nn.Module, dets_bit_packed: np.ndarray | torch.Tensor,
              layout: EdgeLayout, *, policy: CommitPolicy,
              tile: tuple[int, int, int] | None = None) -> Corrections:
    """Pre-decode one batch of shots: detection events -> :class:`Corrections`.

    Args:
        net: the network (``load_model(name).net``); it runs where its weights are.
        dets_bit_packed: (S, ceil(D/8)) uint8 numpy, bit-packed in stim's little-endian order
            (what ``qec.sample_detectors`` and ``qec.read_sample_file`` give, as every decoder
            of the library takes), D = ``layout.geometry.num_detectors``. A (S, D) bool torch
            tensor (unpacked, any device) is accepted too.
        layout: the circuit's :class:`~predecoder.EdgeLayout` (``EdgeLayout.from_task``).
        policy: the :class:`CommitPolicy` (``load_model(name).policy("soft")``).
        tile: run the network tile by tile, (t, h, w) cells each (same result, less memory).

    Returns:
        :class:`Corrections` on the network's device: committed edges, the residual (in
        stim's detector order; ``residual_bit_packed`` for a matcher), the observable flip
        and, in soft mode, the per-shot matching weights.

    Raises:
        TypeError: an argument of the wrong kind or dtype (the message names it and what is
            allowed). ValueError: the wrong number of detectors.

    Examples:
        >>> from predecoder import EdgeLayout, load_model
        >>> from qec import NoiseModel, Task, sample_detectors
        >>> task = Task(distance=3, noise=NoiseModel.uniform(0.006))
        >>> model, layout = load_model("small"), EdgeLayout.from_task(task)
        >>> chunk = next(sample_detectors(task.circuit(), shots=8, seed=1))
        >>> corr = predecode(model.net, chunk.dets, layout, policy=model.policy("soft"))
        >>> corr.residual_bit_packed.shape, corr.flip_bit_packed.shape, corr.weights.shots
        ((8, 3), (8, 1), 8)
    """
    _check_kind(net, "net", torch.nn.Module, "a torch.nn.Module (a LoadedModel's .net)")
    _check_kind(layout, "layout", EdgeLayout, "a predecoder.EdgeLayout")
    _check_kind(policy, "policy", CommitPolicy, "a predecoder.CommitPolicy")
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dets = dets_on_device(dets_bit_packed, layout.geometry.num_detectors, device)
    return corrections(shot_logits(net, dets, layout, tile=tile), dets, layout, policy)


def dets_on_device(dets_bit_packed: np.ndarray | torch.Tensor, num_detectors: int,
                   device: torch.device | str) -> torch.Tensor:
    """(S, ceil(D/8)) uint8 bit-packed numpy, or a (S, D) bool torch tensor -> (S, D) bool
    tensor on ``device``; anything else is refused naming its type, dtype and shape."""
    width = (num_detectors + 7) // 8
    if isinstance(dets_bit_packed, torch.Tensor):
        if dets_bit_packed.dtype != torch.bool:
            raise InputTypeError(f"dets_bit_packed is a torch tensor of dtype "
                                 f"{dets_bit_packed.dtype}; a tensor must be bool (S, "
                                 f"{num_detectors}), else give bit-packed uint8 numpy")
        if dets_bit_packed.ndim != 2 or dets_bit_packed.shape[1] != num_detectors:
            raise InputError(f"dets_bit_packed is a bool tensor of shape "
                             f"{tuple(dets_bit_packed.shape)}; expected (shots, "
                             f"{num_detectors}), one column per detector of the layout")
        return dets_bit_packed.to(device)
    if not isinstance(dets_bit_packed, np.ndarray):
        raise InputTypeError(f"dets_bit_packed is a {type(dets_bit_packed).__name__}; expected "
                             f"a (shots, {width}) uint8 numpy array of bit-packed detection "
                             "events (or a bool torch tensor)")
    shape, dtype = dets_bit_packed.shape, dets_bit_packed.dtype
    if dtype != np.uint8:
        hint = (" (unpacked bits: pack them with qec.pack_bits)"
                if len(shape) == 2 and shape[1] == num_detectors else "")
        raise InputTypeError(f"dets_bit_packed has dtype {dtype} and shape {shape}; expected "
                             f"uint8 (shots, {width}), {num_detectors} detectors bit-packed "
                             f"in stim's little-endian order{hint}")
    if len(shape) != 2 or shape[1] != width:
        raise InputError(f"dets_bit_packed has shape {shape}; expected (shots, {width}): "
                         f"the layout's {num_detectors} detectors bit-packed 8 per byte")
    return unpack_to_device(dets_bit_packed, num_detectors, str(device))


def _check_kind(value, name: str, kind: type, allowed: str) -> None:
    if not isinstance(value, kind):
        raise InputTypeError(f"{name} is a {type(value).__name__}; expected {allowed}")


def _endpoints(layout: EdgeLayout, device) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = torch.as_tensor(layout.graph.edge_dets, device=device)
    return pairs[:, 0], pairs[:, 1]


def _syndrome_counts(edges: torch.Tensor, layout: EdgeLayout, *, count: bool) -> torch.Tensor:
    """(S, E) bool -> (S, D): how many chosen edges touch each detector (or its parity)."""
    a, b = _endpoints(layout, edges.device)
    e = edges.to(torch.int32)
    counts = torch.zeros((edges.shape[0], layout.graph.num_detectors), dtype=torch.int32,
                         device=edges.device)
    counts.index_add_(1, a, e)
    inner = b >= 0
    counts.index_add_(1, b[inner], e[:, inner])
    return counts if count else counts.remainder(2).bool()


def labels_from_errors(layout: EdgeLayout, errors: np.ndarray) -> np.ndarray:
    """(S, M) 0/1 fired DEM mechanisms -> (S, E) bool fired edges (the training labels)."""
    return layout.graph.fired_edges(errors)
