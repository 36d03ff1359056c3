"""The runs model (``runs@1``): how a profile fitted to whole measured runs prices a step.

A prior profile (a datasheet profile or a calibrated one) prices a counted step class by class. Whole
runs cannot see inside a step, so the update touches only the few quantities a run's total can
identify, each a parameter with a prior:

    T_ops  = s_conv·T_conv + s_linear·T_linear + s_other·T_other          (in-context scales)
    T_host = T_overhead0 + step_s + dispatch_s·dispatches + spatial_op_s·spatial_ops
             + input_s_per_byte·input_bytes
    T      = T_ops + T_host
    E      = idle_w·T + active_scale·(s_conv·D_conv + s_linear·D_linear + s_other·D_other) + wait_w·T_host

``T_c`` is the prior's time of class group c per step, ``D_c = E_c − idle0·T_c`` its energy above
the prior's idle power, ``T_overhead0`` the prior's own between-op time (calibrated profiles),
``dispatches`` the step's aten calls, ``spatial_ops`` its convolution, normalisation and pooling ops
(cuDNN-style calls that pay a fixed cost per call — algorithm lookup, several kernels, workspace — that
a roofline of their FLOPs and bytes misses; on the study's GTX 1080 it is what makes small CNNs cost
more than their size says), and ``input_bytes`` the batch's input tensors (4 bytes an element:
the float32 input the study and most image models use; token ids are 8, so their copy is priced
low). ``step_s`` is the host's fixed work per step (zero_grad, ``loss.item()``'s synchronisation, the
optimizer's Python loop), ``dispatch_s`` the host time per aten call the device waits for,
``spatial_op_s`` the fixed time per spatial op,
``input_s_per_byte`` the batch's copy to the device. While the host is the bottleneck the device draws
``idle_w + wait_w``. The sum is additive, like the datasheet roofline: where host and device
overlap, the fitted host terms absorb the overlap.

At the prior's values (scales 1, host terms 0, powers the prior's) this prices exactly as the prior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FORM = "runs@1"
GROUPS = ("conv", "linear", "other")
SCALE_PARAMS = ("scale_conv", "scale_linear", "scale_other")
HOST_PARAMS = ("step_s", "dispatch_s", "spatial_op_s", "input_s_per_byte")
SPATIAL_CLASSES = frozenset({"conv", "norm", "pool"})
POWER_PARAMS = ("idle_w", "active_scale", "wait_w")
PARAMS = SCALE_PARAMS + HOST_PARAMS + POWER_PARAMS
#: Parameters that are positive factors or powers: log-normal priors, fitted in log.
LOG_PARAMS = frozenset(SCALE_PARAMS + POWER_PARAMS)
INPUT_BYTES_PER_ELEMENT = 4
HOST_CLASSES = ("host_overhead", "input_copy")


def group_of(cls: str) -> str:
    return cls if cls in ("conv", "linear") else "other"


@dataclass(frozen=True)
class StepBasis:
    """What the prior says about one counted step, in the terms of the runs model."""

    time_s: dict[str, float]     # per group: the prior's op time
    dyn_j: dict[str, float]      # per group: the prior's energy above idle0
    overhead_s: float            # the prior's own between-op time (class ``overhead``), 0 for datasheet
    dispatches: int
    input_bytes: int
    spatial_ops: int = 0

    def to_dict(self) -> dict:
        return {"time_s": self.time_s, "dyn_j": self.dyn_j, "overhead_s": self.overhead_s,
                "dispatches": self.dispatches, "input_bytes": self.input_bytes, "spatial_ops": self.spatial_ops}


def input_bytes(report: Any) -> int:
    """Bytes of one step's input tensors (the batch copied to the device), at 4 bytes an element."""
    return sum(math.prod(s) for s in report.input_shapes if s) * INPUT_BYTES_PER_ELEMENT


def basis(classes: dict, report: Any, idle0_w: float) -> StepBasis:
    """The runs model's inputs from the prior's per-class prices of one step (``price_step``'s output)."""
    t = {g: 0.0 for g in GROUPS}
    d = {g: 0.0 for g in GROUPS}
    overhead = 0.0
    spatial = 0
    for cls, p in classes.items():
        if cls == "overhead":
            overhead += p.time_s
            continue
        if cls in SPATIAL_CLASSES:
            spatial += p.ops
        g = group_of(cls)
        t[g] += p.time_s
        d[g] += max(p.energy_j - idle0_w * p.time_s, 0.0)
    return StepBasis(t, d, overhead, int(report.dispatches), input_bytes(report), spatial)


def step_cost(b: StepBasis, p: dict[str, float]) -> tuple[float, float, dict[str, float]]:
    """``(energy_j, time_s, host times)`` of one step under parameters ``p``."""
    scale = {g: p[f"scale_{g}"] for g in GROUPS}
    t_ops = sum(scale[g] * b.time_s[g] for g in GROUPS)
    host = {"host_overhead": b.overhead_s + p["step_s"] + p["dispatch_s"] * b.dispatches
            + p.get("spatial_op_s", 0.0) * b.spatial_ops,
            "input_copy": p["input_s_per_byte"] * b.input_bytes}
    t_host = sum(host.values())
    t = t_ops + t_host
    e = p["idle_w"] * t + p["active_scale"] * sum(scale[g] * b.dyn_j[g] for g in GROUPS) + p["wait_w"] * t_host
    return e, t, host


def apply_runs_model(classes: dict, report: Any, runs_model: dict) -> dict:
    """Reprice a step's per-class prices (from the prior's models) with a fitted runs model.

    Op classes keep their FLOPs and bytes; their time is scaled by their group's in-context scale
    and their energy is ``idle_w × time + active_scale × scaled energy above idle``. The host's work
    is added as classes ``host_overhead`` (the prior's between-op time included) and ``input_copy``.
    Variances are zero: the interval comes from the runs fit (:func:`log_halfwidth`).
    """
    from green_estimate.pricing import ClassPrice

    p = runs_model["params"]
    idle0 = float(runs_model["prior"]["idle0_w"])
    b = basis(classes, report, idle0)
    out: dict = {}
    for cls, c in classes.items():
        if cls == "overhead":
            continue
        s = p[f"scale_{group_of(cls)}"]
        dyn = max(c.energy_j - idle0 * c.time_s, 0.0)
        t = s * c.time_s
        out[cls] = ClassPrice(p["idle_w"] * t + p["active_scale"] * s * dyn, 0.0, t, 0.0, c.priced_as,
                              c.flops, c.nbytes, c.ops)
    _, _, host = step_cost(b, p)
    for cls, t in host.items():
        if t > 0:  # a host term fitted to zero adds no class
            out[cls] = ClassPrice((p["idle_w"] + p["wait_w"]) * t, 0.0, t, 0.0, cls)
    return out


def t_quantile(level: float, df: float) -> float:
    """The two-sided Student-t quantile for confidence ``level`` (normal when df is large)."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, df))


def log_halfwidth(runs_model: dict, target: str, confidence: float) -> float:
    """Half-width in log of a prediction interval: ``t_df(c) × sigma_log`` of the target."""
    iv = runs_model["interval"][target]
    return t_quantile(confidence, float(iv["df"])) * float(iv["sigma_log"])
