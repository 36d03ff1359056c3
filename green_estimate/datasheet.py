"""Datasheet GPU profiles: price a GPU nobody here has measured, from its vendor figures.

This module owns the GPU table (``data/gpus.json``: peak rates, bandwidth, board power, an idle
estimate, each with its source) and turns one entry into a ``green-estimate/profile@1`` dict with
``provenance: "datasheet"``. The model is an *additive roofline* per op::

    time_s   = launch_overhead_s + flops / (peak_flops_per_s * eff_flops_c) + bytes / (bandwidth * eff_bytes_c)
    energy_j = launch_overhead_s * P_wait + (flops and bytes terms) * P_c
    P_c      = idle_w + (board_w - idle_w) * u_c

The real roofline is ``max(F/peak, B/bw)``; the sum is never below it and at most twice it, so the
model leans towards *longer* times (an upper-bound-ish approximation). Every per-class efficiency
and utilisation below is an assumption, not a measurement; docs/datasheet.md lists them with why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from green_estimate.errors import UsageError
from green_estimate.gpus import (  # noqa: F401  (re-exported: callers and tests import them from here)
    SOURCE_GROUPS, GpuSpec, canonical_dtype, get_gpu, load_gpus, match_gpu, read_table)
from green_estimate.meters.base import DATASHEET
from green_estimate.price_models import ClassModel
from green_estimate.profile_document import DATASHEET as DATASHEET_LAYOUT
from green_estimate.profile_document import ClassEntry, DeviceEntry, MeterEntry, ProfileDocument

NAME_PREFIX = "datasheet:"
FEATURES = ("const", "flops", "bytes")
#: Every layer class the counter emits; a datasheet profile prices each of them.
CLASSES = (
    "conv", "linear", "relu", "norm", "pool", "elementwise", "reduction",
    "softmax", "loss", "embedding", "attention", "copy", "other",
)
DEFAULT_CLASS = "elementwise"

#: Fixed cost per recorded op. Assumption: a CUDA kernel launch costs ~3-5 µs on the GPU side and
#: PyTorch's eager dispatch ~5-10 µs on the CPU; when kernels are queued asynchronously the two
#: overlap, so we charge 5 µs per op. Some aten ops launch several kernels; this ignores that.
LAUNCH_OVERHEAD_S = 5e-6
#: Assumed utilisation while the GPU waits for launches (clocks up, little work): a little above idle.
WAIT_UTILISATION = 0.1
#: Spread of a single op around the model (assumption): real kernels land within roughly a factor
#: of two of an additive roofline with guessed efficiencies, i.e. ~50 % relative standard deviation.
RESID_REL_SD = 0.5
#: Error shared by every op of a class (assumption): the efficiency guess itself may be off by ~35 %
#: for this GPU, which does not average out over many ops. Encoded as a fully correlated ``cov``.
SYSTEMATIC_REL_SD = 0.35
#: No fit was made; a large df makes the interval use normal quantiles.
DF_RESID = 1000



@dataclass(frozen=True)
class ClassAssumption:
    """What we assume about one layer class on a GPU (all fractions in [0, 1]).

    Attributes:
        flops_eff: achieved fraction of the CUDA-core (non-tensor) FP32 peak.
        tensor_flops_eff: achieved fraction of the tensor-core peak, or None for classes that never
            run on tensor cores (they always use the CUDA-core peak).
        bytes_eff: achieved fraction of the peak DRAM bandwidth.
        utilisation: where the board sits between idle (0) and board power (1) while it runs.
        why: one line of reasoning, shown in docs and in the profile's sources.
    """

    flops_eff: float
    tensor_flops_eff: float | None
    bytes_eff: float
    utilisation: float
    why: str


_GEMM = "cuBLAS/cuDNN GEMM-like kernels; training mixes large and small shapes and backward kernels"
_STREAM = "memory-bound streaming kernel; reaches most of DRAM bandwidth on large tensors"
CLASS_ASSUMPTIONS: dict[str, ClassAssumption] = {
    "conv": ClassAssumption(0.55, 0.40, 0.60, 0.80, f"{_GEMM}; tensor-core convs lose more to layout transforms"),
    "linear": ClassAssumption(0.65, 0.55, 0.60, 0.85, f"{_GEMM}; GEMMs reach the highest fraction of peak"),
    "attention": ClassAssumption(0.45, 0.35, 0.60, 0.80, "fused SDPA; softmax and masking cut into the GEMM rate"),
    "relu": ClassAssumption(0.50, None, 0.75, 0.55, _STREAM),
    "elementwise": ClassAssumption(0.50, None, 0.75, 0.55, _STREAM),
    "copy": ClassAssumption(0.50, None, 0.80, 0.50, "copies and casts are the simplest streams"),
    "norm": ClassAssumption(0.50, None, 0.60, 0.60, "two passes (statistics, then normalise) with reductions"),
    "pool": ClassAssumption(0.50, None, 0.60, 0.55, "windowed reads; backward scatters"),
    "reduction": ClassAssumption(0.50, None, 0.60, 0.55, "tree reductions leave bandwidth unused at the tail"),
    "softmax": ClassAssumption(0.50, None, 0.60, 0.60, "max, exp-sum and normalise passes"),
    "loss": ClassAssumption(0.50, None, 0.50, 0.55, "small fused kernels, often launch-bound"),
    "embedding": ClassAssumption(0.50, None, 0.40, 0.50, "gathers and scatter-adds with poor locality"),
    "other": ClassAssumption(0.50, None, 0.50, 0.60, "unknown kernels: a middle-of-the-road guess"),
}


def class_power_w(spec: GpuSpec, utilisation: float) -> float:
    """Board power at a utilisation between idle (0) and board power (1)."""
    return spec.idle_power_w + (spec.board_power_w - spec.idle_power_w) * utilisation


def profile_name(key: str, dtype: str = "float32", allow_tf32: bool = False) -> str:
    """``datasheet:KEY``, with ``:tf32`` or ``:float16``/``:bfloat16`` for the other variants."""
    dtype = canonical_dtype(dtype)
    suffix = ":tf32" if dtype == "float32" and allow_tf32 else ("" if dtype == "float32" else f":{dtype}")
    return f"{NAME_PREFIX}{key}{suffix}"


def _linear_model(params: list[float], systematic_rel_sd: float) -> ClassModel:
    # cov = s² p pᵀ: the whole class is off by one common factor (1 ± s), so a class total gets a
    # relative sd of s however many ops it has; RESID_REL_SD covers op-to-op scatter on top.
    cov = [[systematic_rel_sd**2 * a * b for b in params] for a in params]
    return ClassModel(list(FEATURES), params, cov, RESID_REL_SD, DF_RESID)


def _src(spec: GpuSpec, group: str) -> str:
    s = spec.sources[group]
    parts = [s.get("title", ""), f"({s['year']})" if s.get("year") else "", s.get("url") or ""]
    return " ".join(p for p in parts if p)


def _sources(spec: GpuSpec, tensor: float | None, tensor_label: str, overhead_power_w: float) -> list[dict]:
    lo, hi = spec.idle_power_w_range
    out = [
        {"figure": "peak FP32 (non-tensor)", "value": f"{spec.fp32_tflops} TFLOPS", "source": _src(spec, "compute")},
        {"figure": "memory bandwidth", "value": f"{spec.memory_bandwidth_gb_s} GB/s", "source": _src(spec, "memory")},
        {"figure": "board power", "value": f"{spec.board_power_w} W", "source": _src(spec, "power")},
        {"figure": "idle power (estimate)", "value": f"{spec.idle_power_w} W (plausible {lo}-{hi} W)",
         "source": _src(spec, "idle_power")},
        {"figure": "launch overhead per op", "value": f"{LAUNCH_OVERHEAD_S * 1e6:g} µs at {overhead_power_w:.1f} W",
         "source": "assumption (green-estimate, docs/datasheet.md)"},
        {"figure": "interval widths", "value": f"{SYSTEMATIC_REL_SD:.0%} per class, {RESID_REL_SD:.0%} per op",
         "source": "assumption (green-estimate, docs/datasheet.md): no measurements behind this profile"},
    ]
    if tensor is not None:
        out.insert(1, {"figure": f"peak {tensor_label} tensor (dense)", "value": f"{tensor} TFLOPS",
                       "source": _src(spec, "compute")})
    for cls, a in CLASS_ASSUMPTIONS.items():
        tensor_part = f", {a.tensor_flops_eff:.0%} of tensor peak" if a.tensor_flops_eff is not None else ""
        out.append({"figure": f"{cls}: achievable efficiency and utilisation",
                    "value": f"{a.flops_eff:.0%} of FP32 peak{tensor_part}, {a.bytes_eff:.0%} of bandwidth, "
                             f"utilisation {a.utilisation:.0%}",
                    "source": f"assumption (green-estimate, docs/datasheet.md): {a.why}"})
    return out


def precision_settings(precision: str) -> tuple[str, bool]:
    """``(dtype, allow_tf32)`` of a training precision: fp32, tf32, bf16 (autocast) or fp16 (autocast)."""
    from green_estimate.counting.precision import check_precision

    return {"fp32": ("float32", False), "tf32": ("float32", True), "bf16": ("bfloat16", False),
            "fp16": ("float16", False)}[check_precision(precision)]


def profile_precision(dtype: str, allow_tf32: bool = False) -> str:
    """The training precision a datasheet variant prices: the inverse of :func:`precision_settings`."""
    dtype = canonical_dtype(dtype)
    if dtype == "float32":
        return "tf32" if allow_tf32 else "fp32"
    return "bf16" if dtype == "bfloat16" else "fp16"


def datasheet_profile(key: str, *, dtype: str = "float32", allow_tf32: bool = False,
                      systematic_rel_sd: float = SYSTEMATIC_REL_SD, precision: str | None = None) -> dict[str, Any]:
    """A ``green-estimate/profile@1`` dict for a GPU, built from vendor figures and stated assumptions.

    Args:
        key: a key of :func:`load_gpus` (``"h100-sxm"``) or an NVML device name.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``; half types price GEMM-like classes
            (conv, linear, attention) at the tensor-core peak and everything else at the FP32 peak.
        allow_tf32: price float32 GEMM-like classes at the TF32 tensor peak (as
            ``torch.backends.cuda.matmul.allow_tf32`` does); no effect on GPUs without TF32.
        systematic_rel_sd: relative error shared by all ops of a class (0 gives a zero ``cov``).
        precision: ``fp32``, ``tf32``, ``bf16`` or ``fp16``; when given, it sets ``dtype`` and
            ``allow_tf32`` (see :func:`precision_settings`).

    Returns:
        The profile dict; ``provenance`` and ``time_provenance`` are ``"datasheet"``.

    Raises:
        UsageError: unknown GPU or dtype, or a half dtype the GPU has no tensor cores for.

    Example:
        >>> p = datasheet_profile("h100-sxm")
        >>> p["classes"]["linear"]["time_s"]["params"]  # [s, s/FLOP, s/byte]
    """
    spec = get_gpu(key)
    if precision is not None:
        dtype, allow_tf32 = precision_settings(precision)
    dtype = canonical_dtype(dtype)
    if systematic_rel_sd < 0:
        raise UsageError(f"systematic_rel_sd must be >= 0, got {systematic_rel_sd}.")
    tensor = spec.tensor_tflops(dtype, allow_tf32=allow_tf32)
    tensor_label = "TF32" if dtype == "float32" else ("FP16" if dtype == "float16" else "BF16")
    if dtype != "float32" and tensor is None:
        raise UsageError(f"{spec.name} has no {tensor_label} tensor cores in its datasheet, so a datasheet "
                         f"profile cannot price {dtype} training on it; use one of {spec.supported_dtypes()}.")
    wait_power_w = class_power_w(spec, WAIT_UTILISATION)
    classes, per_class = _class_models(spec, tensor, wait_power_w, systematic_rel_sd)
    tf32 = bool(allow_tf32 and dtype == "float32")
    return ProfileDocument(
        name=profile_name(spec.key, dtype, allow_tf32),
        created_utc=f"{read_table()['updated']}T00:00:00Z",  # the table's date: reproducible
        device=DeviceEntry("gpu", spec.name, {"datasheet_key": spec.key, "architecture": spec.architecture,
                                              "memory_gb": spec.memory_gb, "nvml_names": list(spec.nvml_names)}),
        meter=MeterEntry("datasheet", spec.name, power_w=spec.board_power_w,
                         power_source=f"board power from {_src(spec, 'power')}; idle power is an estimate"),
        provenance=DATASHEET, time_provenance=DATASHEET, default_class=DEFAULT_CLASS, classes=classes,
        extras={"energy_basis": "total", "idle_power_w": spec.idle_power_w, "torch_version": None, "dtype": dtype,
                "allow_tf32": tf32, "precision": profile_precision(dtype, tf32), "sample_count": 0,
                "datasheet": _datasheet_section(spec, tensor, tensor_label, wait_power_w, systematic_rel_sd, per_class),
                "sources": _sources(spec, tensor, tensor_label, wait_power_w)},
        layout=DATASHEET_LAYOUT,
    ).to_dict()


def _class_models(spec: GpuSpec, tensor: float | None, wait_power_w: float,
                  systematic_rel_sd: float) -> tuple[dict[str, ClassEntry], dict[str, Any]]:
    """Each class's time and energy models, and the rates and power behind them."""
    vector_flops_s = spec.fp32_tflops * 1e12
    bandwidth_b_s = spec.memory_bandwidth_gb_s * 1e9
    classes: dict[str, ClassEntry] = {}
    per_class: dict[str, Any] = {}
    for cls in CLASSES:
        a = CLASS_ASSUMPTIONS[cls]
        on_tensor = tensor is not None and a.tensor_flops_eff is not None
        if on_tensor:
            flops_s = tensor * 1e12 * a.tensor_flops_eff  # type: ignore[operator]
        else:
            flops_s = vector_flops_s * a.flops_eff
        time_params = [LAUNCH_OVERHEAD_S, 1.0 / flops_s, 1.0 / (bandwidth_b_s * a.bytes_eff)]
        power_w = class_power_w(spec, a.utilisation)
        energy_params = [time_params[0] * wait_power_w, time_params[1] * power_w, time_params[2] * power_w]
        classes[cls] = ClassEntry(_linear_model(time_params, systematic_rel_sd),
                                  _linear_model(energy_params, systematic_rel_sd), n_samples=0,
                                  cv={"time_s": None, "energy_j": None})
        per_class[cls] = {"flops_per_s": flops_s, "bytes_per_s": bandwidth_b_s * a.bytes_eff,
                          "power_w": power_w, "tensor_cores": on_tensor}
    return classes, per_class


def _datasheet_section(spec: GpuSpec, tensor: float | None, tensor_label: str, wait_power_w: float,
                       systematic_rel_sd: float, per_class: dict[str, Any]) -> dict[str, Any]:
    """The profile's ``datasheet`` block: the model, its assumptions and the per-class rates."""
    return {
        "gpu": spec.key,
        "model": ("additive roofline: launch overhead + flops/(peak*eff) + bytes/(bandwidth*eff); the sum "
                  "lies between max(F/peak, B/bw) and twice it, so times lean long; efficiencies, "
                  "utilisations and idle power are assumptions, not measurements"),
        "launch_overhead_s": LAUNCH_OVERHEAD_S,
        "wait_power_w": wait_power_w,
        "tensor_peak": None if tensor is None else {"format": tensor_label, "tflops": tensor},
        "systematic_rel_sd": systematic_rel_sd,
        "classes": per_class,
    }


def parse_profile_name(name: str) -> tuple[str, str, bool] | None:
    """``"datasheet:h100-sxm:bfloat16"`` → ``("h100-sxm", "bfloat16", False)``; None if not a datasheet name."""
    if not name.startswith(NAME_PREFIX):
        return None
    key, _, variant = name[len(NAME_PREFIX):].partition(":")
    if variant.lower() == "tf32":
        return key, "float32", True
    return key, canonical_dtype(variant) if variant else "float32", False


def datasheet_profile_by_name(name: str) -> dict[str, Any]:
    """The profile for a name from :func:`list_datasheet_profiles` (or with a ``:dtype`` suffix)."""
    parsed = parse_profile_name(name)
    if parsed is None:
        raise UsageError(f"{name!r} is not a datasheet profile name; they look like 'datasheet:h100-sxm'.")
    key, dtype, allow_tf32 = parsed
    return datasheet_profile(key, dtype=dtype, allow_tf32=allow_tf32)


def list_datasheet_profiles() -> list[dict[str, Any]]:
    """One row per GPU for a ``profiles`` listing: name, device, provenance and the priceable dtypes."""
    return [
        {"name": profile_name(spec.key), "key": spec.key, "device": spec.name, "provenance": DATASHEET,
         "architecture": spec.architecture, "year": spec.year, "dtypes": spec.supported_dtypes(),
         "tf32": spec.tf32_tensor_tflops is not None}
        for spec in load_gpus().values()
    ]
