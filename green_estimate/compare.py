"""Other counters beside ours: fvcore and ptflops, converted to one convention and explained.

Users keep asking why FLOP counters disagree. The answer is nearly always one of: multiply-
accumulates reported as "flops" (a factor of two), forward pass only (a training step is about
three forwards), and ops the other counter skips (elementwise ops, pooling, normalisation). Both
tools need real weights, so the comparison builds the model on the CPU at batch size 1 and scales
by the batch size (their counts are linear in the batch).
"""
from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field

from green_estimate.counting.counter import CPU_FALLBACK_MAX_PARAMS as MAX_PARAMS  # one limit on CPU weights
from green_estimate.counting.report import CostReport
from green_estimate.errors import ModelLoadError
from green_estimate.loading import Workload

_FVCORE_GEMM = ("conv", "linear", "matmul", "addmm", "bmm", "einsum")


@dataclass
class CounterRow:
    """One counter's forward count, as reported and converted to FLOPs for the batch."""

    tool: str
    version: str
    reported: float | None
    reported_unit: str
    flops_forward: float | None
    ours_same_scope: int
    explanations: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.flops_forward or not self.ours_same_scope:
            return None
        return self.flops_forward / self.ours_same_scope

    def to_dict(self) -> dict:
        return {
            "tool": self.tool, "version": self.version, "reported": self.reported,
            "reported_unit": self.reported_unit, "flops_forward": self.flops_forward,
            "ours_same_scope": self.ours_same_scope, "ratio": self.ratio,
            "explanations": self.explanations, "error": self.error,
        }


@dataclass
class Comparison:
    batch_size: int
    ours_forward_flops: int
    ours_forward_gemm_flops: int
    ours_step_flops: int
    rows: list[CounterRow]
    notes: list[str]

    def to_dict(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "ours": {"forward_flops": self.ours_forward_flops, "forward_conv_linear_flops": self.ours_forward_gemm_flops,
                     "training_step_flops": self.ours_step_flops},
            "counters": [r.to_dict() for r in self.rows],
            "notes": self.notes,
        }


def _version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def compare_counters(workload: Workload, report: CostReport) -> Comparison:
    """Count the forward pass of ``workload`` with fvcore and ptflops beside ``report``."""
    import torch

    if report.parameters > MAX_PARAMS:
        raise ModelLoadError(
            f"--compare needs the real weights on the CPU; {report.parameters:,} parameters is too many "
            f"(limit {MAX_PARAMS:,}). fvcore and ptflops cannot count models that large at all."
        )
    b = report.batch_size
    bc = report.by_class_phase()
    fwd = report.by_phase()["forward"].flops
    gemm = sum(bc[c]["forward"].flops for c in ("conv", "linear", "attention") if c in bc)  # fused SDPA: GEMMs too
    model = workload.build()
    model.eval()  # both tools count inference; eval keeps BatchNorm from updating statistics
    from green_estimate.counting.inputs import has_lazy, model_inputs

    with torch.no_grad():  # the counter's own inputs: token ids, dicts and several inputs included
        inputs, kwargs = model_inputs(workload, 1, "cpu", model)
        if has_lazy(model):
            model(*inputs, **kwargs)  # materialise Lazy layers before the tools trace the model
    if kwargs:  # keyword inputs: fvcore traces positional inputs only; ptflops takes the dict
        rows = [CounterRow("fvcore", _version("fvcore"), None, "MACs (named 'flops')", None, gemm,
                           error="it traces positional inputs only, and example_input returns a dict"),
                _ptflops(model, (kwargs,), workload, b, gemm, fwd)]
    else:
        rows = [_fvcore(model, inputs, b, gemm, fwd, report), _ptflops(model, inputs, workload, b, gemm, fwd)]
    step = report.totals().flops
    notes = [
        "A training step is forward + backward + optimizer: ours counts "
        f"{step:,} FLOPs for it, {step / fwd:.2f}× the forward pass alone." if fwd else "",
        "Backward ≈ 2× forward for GEMMs and convolutions (gradients of input and weight), except "
        "layers whose input needs no gradient (the first layer computes only the weight gradient).",
        f"Both tools ran at batch size 1; their counts are scaled ×{b} to the batch.",
    ]
    return Comparison(b, fwd, gemm, step, rows, [n for n in notes if n])


def _fvcore(model, inputs, b: int, gemm: int, fwd: int, report: CostReport) -> CounterRow:  # noqa: ANN001
    row = CounterRow("fvcore", _version("fvcore"), None, "MACs (named 'flops')", None, gemm)
    try:
        from fvcore.nn import FlopCountAnalysis

        logging.getLogger("fvcore").setLevel(logging.ERROR)
        fa = FlopCountAnalysis(model, inputs if len(inputs) > 1 else inputs[0])
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            total = fa.total()
            by_op = dict(fa.by_operator())
            skipped = dict(fa.unsupported_ops())
    except Exception as e:  # a third-party tool failing is a finding, not our crash
        row.error = f"{type(e).__name__}: {e}"
        return row
    row.reported = float(total)
    gemm_macs = sum(v for k, v in by_op.items() if k in _FVCORE_GEMM)
    row.flops_forward = 2.0 * gemm_macs * b  # compared on conv + linear, the ops both count
    extra = total - gemm_macs
    row.explanations.append("fvcore reports multiply-accumulates under the name 'flops': ×2 to match PyTorch's 2 FLOPs per MAC.")
    row.explanations.append("Forward pass only: no backward, no optimizer update.")
    if extra:
        row.explanations.append(
            f"Its total also has {extra * 2 * b:,.0f} FLOPs (converted) for "
            f"{', '.join(k for k in by_op if k not in _FVCORE_GEMM)}, with its own per-element formulas; "
            "the comparison uses its conv + linear part."
        )
    if skipped:
        row.explanations.append("Skipped as unsupported (counted as zero): " + ", ".join(f"{k} ×{v}" for k, v in skipped.items()) + ".")
    relu_fwd = report.by_class_phase().get("relu", {}).get("forward")
    if relu_fwd and relu_fwd.flops:
        row.explanations.append(f"ReLU counted as zero (ours: {relu_fwd.flops:,} FLOPs and {relu_fwd.bytes:,} bytes forward).")
    return row


def _ptflops(model, inputs, workload: Workload, b: int, gemm: int, fwd: int) -> CounterRow:  # noqa: ANN001
    row = CounterRow("ptflops", _version("ptflops"), None, "MACs", None, gemm)
    try:
        from ptflops import get_model_complexity_info

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            macs, _ = get_model_complexity_info(
                model, tuple(getattr(inputs[0], "shape", (1, 1))[1:]), input_constructor=lambda _shape: _ptflops_input(model, inputs),
                as_strings=False, print_per_layer_stat=False, verbose=False, backend="pytorch",
            )
    except Exception as e:
        row.error = f"{type(e).__name__}: {e}"
        return row
    if macs is None:
        row.error = "ptflops returned no count"
        return row
    row.reported = float(macs)
    row.flops_forward = 2.0 * macs * b
    row.ours_same_scope = fwd
    row.explanations.append("ptflops reports MACs: ×2 to match PyTorch's 2 FLOPs per MAC.")
    row.explanations.append("Forward pass only: no backward, no optimizer update.")
    row.explanations.append(
        "Its total mixes conv/linear MACs with ReLU, BatchNorm and pooling counted as one 'MAC' per element, "
        "so it is compared with our whole forward pass; functional ops (torch.* calls outside nn.Modules) are skipped."
    )
    return row


def _ptflops_input(model, inputs: tuple):  # noqa: ANN001, ANN202
    """ptflops calls ``model(x)`` for a tensor and ``model(**x)`` for a dict."""
    import inspect

    if len(inputs) == 1:
        return inputs[0]  # a tensor, or the dict of keyword inputs
    names = [n for n in inspect.signature(model.forward).parameters][: len(inputs)]
    return dict(zip(names, inputs))
