"""The GPU datasheet table (``data/gpus.json``): vendor figures and where each came from.

Each entry gives peak rates, bandwidth, board power and an idle estimate, each with its source;
:mod:`green_estimate.datasheet` turns one into a profile. Figures are as vendors state them
(TFLOPS, GB/s, W).
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from green_estimate.errors import ProfileError, UsageError

_DTYPES = {alias: canon for canon, aliases in (("float32", ("fp32", "float")), ("float16", ("fp16", "half")),
                                               ("bfloat16", ("bf16",)))
           for alias in (canon, f"torch.{canon}", *aliases)}
_REQUIRED_NUMBERS = ("fp32_tflops", "memory_bandwidth_gb_s", "board_power_w", "idle_power_w", "memory_gb")
_OPTIONAL_NUMBERS = ("tf32_tensor_tflops", "fp16_tensor_tflops", "bf16_tensor_tflops")
SOURCE_GROUPS = ("compute", "memory", "power", "idle_power")


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's vendor figures (SI-free, as vendors state them) and where each came from.

    Attributes:
        key: short identifier, e.g. ``"h100-sxm"``.
        name: full product name.
        fp32_tflops: peak FP32 on CUDA cores (non-tensor), TFLOPS.
        tf32_tensor_tflops, fp16_tensor_tflops, bf16_tensor_tflops: dense tensor-core peaks
            (FP16 with FP32 accumulation), TFLOPS; None where the GPU has no such tensor cores.
        memory_bandwidth_gb_s: peak DRAM bandwidth, 1e9 bytes/s.
        board_power_w: TDP / TGP.
        idle_power_w: an *estimate* (vendors publish none); ``idle_power_w_range`` its plausible span.
        nvml_names: names NVML reports for this board, for :func:`match_gpu`.
        sources: per figure group (compute, memory, power, idle_power): title, url, year, note.
    """

    key: str
    name: str
    architecture: str
    year: int
    memory_gb: float
    fp32_tflops: float
    tf32_tensor_tflops: float | None
    fp16_tensor_tflops: float | None
    bf16_tensor_tflops: float | None
    memory_bandwidth_gb_s: float
    board_power_w: float
    idle_power_w: float
    idle_power_w_range: tuple[float, float]
    nvml_names: tuple[str, ...] = ()
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    idle_power_is_estimate: bool = True

    def tensor_tflops(self, dtype: str, *, allow_tf32: bool = False) -> float | None:
        """The tensor-core peak a GEMM of this dtype would use, or None (CUDA cores only)."""
        dtype = canonical_dtype(dtype)
        if dtype == "float32":
            return self.tf32_tensor_tflops if allow_tf32 else None
        return self.fp16_tensor_tflops if dtype == "float16" else self.bf16_tensor_tflops

    def supported_dtypes(self) -> list[str]:
        """Dtypes a datasheet profile can price on this GPU."""
        out = ["float32"]
        out += [d for d, v in (("float16", self.fp16_tensor_tflops), ("bfloat16", self.bf16_tensor_tflops)) if v]
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["idle_power_w_range"] = list(self.idle_power_w_range)
        d["nvml_names"] = list(self.nvml_names)
        return d


def canonical_dtype(dtype: str) -> str:
    """``"fp16"``/``"half"``/``"torch.float16"`` → ``"float16"`` and so on; UsageError if unknown."""
    try:
        return _DTYPES[str(dtype).strip().lower()]
    except KeyError:
        raise UsageError(f"Unknown dtype {dtype!r}: use float32, float16 or bfloat16.") from None


def _parse_gpu(key: str, raw: dict[str, Any]) -> GpuSpec:
    missing = [k for k in ("name", "architecture", "year", *_REQUIRED_NUMBERS) if raw.get(k) is None]
    missing += [f"sources.{g}" for g in SOURCE_GROUPS if not (raw.get("sources") or {}).get(g)]
    if missing:
        raise ProfileError(f"data/gpus.json entry {key!r} lacks {', '.join(missing)}; "
                           "fix the package data (every figure needs a value and a source).")
    for k in _REQUIRED_NUMBERS + _OPTIONAL_NUMBERS:
        if raw.get(k) is not None and not float(raw[k]) > 0:
            raise ProfileError(f"data/gpus.json entry {key!r}: {k} must be positive, got {raw[k]!r}.")
    low, high = raw.get("idle_power_w_range") or (raw["idle_power_w"], raw["idle_power_w"])
    return GpuSpec(
        key=key, name=raw["name"], architecture=raw["architecture"], year=int(raw["year"]),
        memory_gb=float(raw["memory_gb"]), fp32_tflops=float(raw["fp32_tflops"]),
        **{k: None if raw.get(k) is None else float(raw[k]) for k in _OPTIONAL_NUMBERS},
        memory_bandwidth_gb_s=float(raw["memory_bandwidth_gb_s"]),
        board_power_w=float(raw["board_power_w"]), idle_power_w=float(raw["idle_power_w"]),
        idle_power_w_range=(float(low), float(high)),
        nvml_names=tuple(raw.get("nvml_names", ())), sources=dict(raw["sources"]),
        idle_power_is_estimate=bool(raw.get("idle_power_is_estimate", True)),
    )


def read_table() -> dict[str, Any]:
    text = resources.files("green_estimate").joinpath("data/gpus.json").read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ProfileError(f"green_estimate/data/gpus.json is not valid JSON ({e}); reinstall the package.") from e


def load_gpus() -> dict[str, GpuSpec]:
    """Every GPU in the package's datasheet table, by key (reads package data each call)."""
    return {key: _parse_gpu(key, raw) for key, raw in read_table()["gpus"].items()}


_DROP_WORDS = {"nvidia", "geforce", "tesla"}


def _normalise(name: str) -> str:
    words = re.sub(r"[-_/(),]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _DROP_WORDS)


def match_gpu(name: str) -> GpuSpec | None:
    """The datasheet entry for a device name (NVML's, the full name, or the key), else None.

    Matching is exact after normalising case, punctuation and the words NVIDIA/GeForce/Tesla, so
    ``"NVIDIA H100 80GB HBM3"`` finds ``h100-sxm`` but ``"GeForce GTX 1080 Ti"`` or a MIG slice
    (``"NVIDIA A100-SXM4-40GB MIG 1g.5gb"``) find nothing: a near miss is a different device.
    """
    wanted = _normalise(name)
    if not wanted:
        return None
    for spec in load_gpus().values():
        if wanted in {_normalise(n) for n in (spec.key, spec.name, *spec.nvml_names)}:
            return spec
    return None


def get_gpu(key_or_name: str) -> GpuSpec:
    """The GPU for a key or NVML name; UsageError listing close matches when there is none."""
    gpus = load_gpus()
    spec = gpus.get(key_or_name.strip().lower()) or match_gpu(key_or_name)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(key_or_name.strip().lower(), list(gpus), n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"No datasheet entry for GPU {key_or_name!r}.{hint} Known: {', '.join(gpus)}. "
                     "Calibrate the GPU itself with `green-estimate calibrate --gpu 0` instead.")
