"""The result of counting one training step: op records and their aggregations."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from green_estimate import FLOP_CONVENTION

PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")
# Always present in ``by_class`` (with zeros when a model has none): the study's three classes.
REQUIRED_CLASSES: tuple[str, ...] = ("conv", "linear", "relu")


@dataclass(frozen=True)
class OpRecord:
    """One aten op of a training step.

    Attributes:
        op: aten op name, e.g. ``"aten.convolution"``.
        cls: layer class (see :mod:`green_estimate.counting.classes`).
        phase: ``forward`` (model and loss), ``backward`` or ``optimizer``.
        module: path of the innermost module running (``"features.0"``), ``""`` outside modules.
        flops: FLOPs, 2 per multiply-accumulate; 0 when uncounted.
        bytes_read: bytes of tensors read.
        bytes_written: bytes of tensors written.
        counted: False when no FLOP formula knows the op.
        outputs: tensors the op produced (a backward op computing input, weight and bias
            gradients has 3; one whose input needs no gradient has 2) — each is a kernel.
        min_dim: the smallest dimension of the GEMM a matrix product or convolution runs (the
            implicit GEMM for a convolution); 0 for other ops.
        depthwise: a depthwise convolution (one input channel per group).
        gemm_mnk: the ``(M, N, K)`` of that GEMM (see :func:`~green_estimate.counting.shapes.gemm_shape`).
        conv_cin: a convolution's input channels per group (0 for other ops): CPU kernels work on
            blocks of 8 or 16 channels, so a channel count off the block runs padded.
        fused: ``attention``, ``lstm`` or ``rnn`` when the op belongs to a call that a real device runs as
            fused kernels (see :mod:`green_estimate.counting.regions`); ``""`` otherwise.
        dtype: the dtype the op computes in (its first floating-point input, else its output), e.g.
            ``bfloat16`` for a GEMM under bf16 autocast; ``""`` for ops without floating tensors.
        indices: the indices an embedding or embedding-bag op (or its backward) looks up; 0 for
            other ops (see :func:`~green_estimate.counting.shapes.lookup_indices`).
        conv_dims: a convolution's spatial dimensions (1, 2 or 3); 0 for other ops.
        conv_stride: the largest stride a convolution steps its input by (1 for a transposed one); 0
            for other ops (see :func:`~green_estimate.counting.shapes.conv_geometry`).
    """

    op: str
    cls: str
    phase: str
    module: str
    flops: int
    bytes_read: int
    bytes_written: int
    counted: bool = True
    outputs: int = 1
    min_dim: int = 0
    depthwise: bool = False
    fused: str = ""
    gemm_mnk: tuple[int, int, int] = (0, 0, 0)
    conv_cin: int = 0
    dtype: str = ""
    indices: int = 0
    conv_dims: int = 0
    conv_stride: int = 0

    @property
    def nbytes(self) -> int:
        """Memory traffic: bytes read plus written."""
        return self.bytes_read + self.bytes_written


@dataclass
class Totals:
    flops: int = 0
    bytes: int = 0
    ops: int = 0

    def add(self, r: OpRecord) -> None:
        self.flops += r.flops
        self.bytes += r.nbytes
        self.ops += 1

    def to_dict(self) -> dict:
        return {"flops": self.flops, "bytes": self.bytes, "ops": self.ops}


@dataclass
class CostReport:
    """The static cost of one training step (forward, loss, backward, optimizer update)."""

    model: str
    batch_size: int
    optimizer: str
    parameters: int
    input_shapes: list[tuple[int, ...]]
    ops: list[OpRecord]
    ignored_ops: dict[str, int] = field(default_factory=dict)
    device: str = "meta"
    notes: list[str] = field(default_factory=list)
    loss: str = ""  # what the step's loss was, in words ("per-token cross-entropy on ...")
    param_tensors: int = 0  # trainable parameter tensors: the optimizer's Python loop runs over them
    # (numel, bytes per element) of each trainable parameter tensor: gradient bytes for data-parallel
    # collectives and the adds of gradient accumulation (see accumulation.py)
    grad_tensors: list[tuple[int, int]] = field(default_factory=list)
    precision: str = "fp32"  # fp32 | tf32 | bf16 | fp16 (autocast), see counting/precision.py
    target: str = "cpu"  # the device kind counted for: autocast's op lists and the attention kernel
    attention_backends: dict[str, int] = field(default_factory=dict)  # SDPA calls by backend (flash, ...)
    # (module path, rows, weight elements) of each embedding table the optimizer updates with a dense
    # gradient: Adam's moments of its rows no step has looked up stay 0 (green_estimate/zero_moments.py)
    lookup_tables: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def grad_bytes(self) -> int:
        """Bytes of every trainable parameter's gradient (what a data-parallel all-reduce moves)."""
        return sum(n * size for n, size in self.grad_tensors)

    def by_dtype(self) -> dict[str, Totals]:
        """FLOPs, bytes and ops per compute dtype (``bfloat16`` GEMMs, ``float32`` norms, ...)."""
        out: dict[str, Totals] = {}
        for r in self.ops:
            out.setdefault(r.dtype or "none", Totals()).add(r)
        return dict(sorted(out.items(), key=lambda kv: -kv[1].flops))

    @property
    def dispatches(self) -> int:
        """Every aten call of the step, free views and allocations included."""
        return len(self.ops) + sum(self.ignored_ops.values())

    def totals(self) -> Totals:
        t = Totals()
        for r in self.ops:
            t.add(r)
        return t

    def by_class(self) -> dict[str, Totals]:
        out: dict[str, Totals] = {}
        for r in self.ops:
            out.setdefault(r.cls, Totals()).add(r)
        return dict(sorted(out.items(), key=lambda kv: -kv[1].flops))

    def by_phase(self) -> dict[str, Totals]:
        out = {p: Totals() for p in PHASES}
        for r in self.ops:
            out[r.phase].add(r)
        return out

    def by_class_phase(self) -> dict[str, dict[str, Totals]]:
        out: dict[str, dict[str, Totals]] = {}
        for r in self.ops:
            out.setdefault(r.cls, {p: Totals() for p in PHASES})[r.phase].add(r)
        return out

    def by_module(self) -> dict[str, Totals]:
        out: dict[str, Totals] = {}
        for r in self.ops:
            out.setdefault(r.module or "(outside modules)", Totals()).add(r)
        return out

    def uncounted_ops(self) -> dict[str, int]:
        """Ops no FLOP formula knows (their bytes are still counted), with how often they ran."""
        return dict(Counter(r.op for r in self.ops if not r.counted).most_common())

    def to_dict(self) -> dict:
        """The ``green-estimate/cost@1`` JSON document."""
        bcp = self.by_class_phase()
        classes = self.by_class()
        for cls in REQUIRED_CLASSES:
            classes.setdefault(cls, Totals())
            bcp.setdefault(cls, {p: Totals() for p in PHASES})
        by_class = {}
        for cls, tot in classes.items():
            d = tot.to_dict()
            d["by_phase"] = {p: t.to_dict() for p, t in bcp[cls].items()}
            by_class[cls] = d
        return {
            "schema": "green-estimate/cost@1",
            "model": self.model,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "parameters": self.parameters,
            "flop_convention": FLOP_CONVENTION,
            "byte_convention": "bytes of tensors read plus written, per op (roofline)",
            "input_shapes": [list(s) for s in self.input_shapes],
            "device": self.device,
            "totals": self.totals().to_dict(),
            "by_class": by_class,
            "by_phase": {p: t.to_dict() for p, t in self.by_phase().items()},
            "uncounted_ops": self.uncounted_ops(),
            "ignored_ops": dict(sorted(self.ignored_ops.items(), key=lambda kv: -kv[1])),
            "loss": self.loss,
            "precision": self.precision,
            "target": self.target,
            "by_dtype": {k: t.to_dict() for k, t in self.by_dtype().items()},
            "attention_backends": dict(self.attention_backends),
            "notes": list(self.notes),
        }
