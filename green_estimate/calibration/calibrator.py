"""``calibrate``: run the suite on one device under a meter and write a profile."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from green_estimate.calibration.cases import Case, load_suite
from green_estimate.calibration.fit import class_rows, fit_classes, repeat_noise
from green_estimate.calibration.incontext import OP_FIELDS
from green_estimate.calibration.references import REFERENCE_FAMILY
from green_estimate.calibration.runner import RunSettings, read_samples, run_suite
from green_estimate.calibration.step_fit import GPU_OP_SCALE_FLOOR, fit_step_model
from green_estimate.counting import COUNT_REVISION
from green_estimate.errors import GreenEstimateError, MeterUnavailableError, UsageError
from green_estimate.fingerprint import cpu_fingerprint
from green_estimate.meters.base import Meter
from green_estimate.price_models import ClassModel
from green_estimate.profile_document import ClassEntry, DeviceEntry, MeterEntry, ProfileDocument
from green_estimate.profile_store import profiles_dir, write_profile


@dataclass
class CalibrationResult:
    profile: dict
    profile_path: Path
    samples_path: Path
    elapsed_s: float
    measured_now: int
    noise: dict = field(default_factory=dict)
    networks_measured: int = 0      # of the suite's networks, in the samples file (resumed ones included)
    networks_in_suite: int = 0
    stopped_at_max_minutes: float | None = None  # --max-minutes, where it stopped the run with networks left

    def to_dict(self) -> dict:
        classes = {
            c: {"n_samples": e["n_samples"], "time_s_features": e["time_s"]["features"], "cv": e["cv"]}
            for c, e in self.profile["classes"].items()
        }
        return {"schema": "green-estimate/calibration@1", "profile_path": str(self.profile_path),
                "samples_path": str(self.samples_path), "elapsed_s": self.elapsed_s,
                "measured_now": self.measured_now, "repeat_noise": self.noise,
                "networks_measured": self.networks_measured, "networks_in_suite": self.networks_in_suite,
                "stopped_at_max_minutes": self.stopped_at_max_minutes,
                "profile": {k: v for k, v in self.profile.items() if k != "classes"}, "classes": classes}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


def _device_info(device: str) -> DeviceEntry:
    import torch

    if device == "cpu":
        fp = cpu_fingerprint()
        return DeviceEntry("cpu", f"{fp['cpu_model']} ({fp['threads']} threads)", fp)
    if not torch.cuda.is_available():
        raise MeterUnavailableError(
            "torch sees no CUDA device: install a CUDA build of torch and check `nvidia-smi`, or calibrate with --cpu"
        )
    idx = int(device.split(":")[1])
    props = torch.cuda.get_device_properties(idx)
    return DeviceEntry("gpu", props.name, {
        "kind": "gpu", "gpu_name": props.name, "memory_bytes": int(props.total_memory),
        "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda})


def _open_meter(device: str, gpu: int | None, watts: float | None, meter_kind: str) -> Meter:
    from green_estimate.meters.probe import best_meter, open_meter

    if meter_kind != "auto":
        return open_meter(meter_kind, gpu_index=gpu, watts=watts)
    if device == "cpu":
        return best_meter(gpu_index=None, watts=watts)
    return open_meter("nvml", gpu_index=gpu)  # a GPU profile needs the GPU's own meter


def calibrate(
    *,
    gpu: int | None = None,
    quick: bool = False,
    out: Path | None = None,
    resume: bool = False,
    watts: float | None = None,
    meter_kind: str = "auto",
    meter: Meter | None = None,
    name: str | None = None,
    suite_path: Path | None = None,
    settings: RunSettings | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    folds: int = 5,
    probe: bool = True,
    precision: str = "fp32",
    pace: bool = True,
    max_minutes: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CalibrationResult:
    """Measure the suite on the CPU (``gpu=None``) or GPU ``gpu`` and write a profile.

    Args:
        gpu: visible GPU index (``CUDA_VISIBLE_DEVICES`` order), or ``None`` for the CPU.
        quick: the quick suite (fewer cases, three repeats).
        out: profile path; default ``<profiles dir>/<name>.json``. Samples go beside it.
        resume: continue an interrupted samples file instead of starting over.
        watts: power for the estimate meter.
        meter_kind: ``auto``, ``nvml``, ``rapl``, ``estimate`` or ``fake``.
        meter: an open meter (tests inject fakes); overrides ``meter_kind``.
        name: profile name; default from the device.
        suite_path: another suite file.
        settings: override warm-up/window/repeats.
        on_progress: ``(done, total, case_id)`` callback.
        folds: cross-validation folds.
        probe: on a CPU, store the device probe (GEMM and convolution rates, bandwidth, dispatch cost, reference
            steps) so the profile can be rescaled on another CPU.
        precision: ``fp32``, ``bf16`` or ``fp16`` (``torch.autocast`` of the device, fp16 with a
            ``GradScaler``), or ``tf32`` on a GPU; the profile prices only this precision.
        pace: on a CPU, time a fixed reference step before each network (0.1 s each) and store the
            pace the profile was measured at (green_estimate/pace.py).
        max_minutes: measure no new network once this many minutes (by ``clock``, in seconds) have
            passed since the call; the profile is then fitted on the networks measured, which the
            profile and the result record, and ``resume`` measures the rest later.

    Raises:
        UsageError: a precision, GPU index or ``max_minutes`` this calibrator cannot take.
        GreenEstimateError: the run (stopped by ``max_minutes``) measured too few networks to fit.
    """
    t_start = clock()
    if max_minutes is not None and not max_minutes > 0:
        raise UsageError(f"--max-minutes {max_minutes:g}: give a positive number of minutes (e.g. --max-minutes 10)")
    stop = None if max_minutes is None else (lambda: clock() - t_start >= 60.0 * max_minutes)
    precision, device = _checked(gpu, precision)
    info = _device_info(device)
    own_meter = meter is None
    meter = meter or _open_meter(device, gpu, watts, meter_kind)
    try:
        suite = load_suite(suite_path, quick=quick, gpu=device != "cpu")
        settings = replace(settings or _run_settings(suite.settings, quick), precision=precision)
        name = name or _default_name(info.name, device, quick, precision)
        profile_path, samples_path = _output_paths(out, name)
        header = _samples_header(info, meter, settings, precision, quick)
        header["idle_power_w"] = _idle_power_w(samples_path, resume, meter, device, settings.idle_s)
        samples, measured_now, elapsed = _timed_suite_run(suite.cases, meter, samples_path, header, device,
                                                          settings, resume, on_progress, pace and device == "cpu", stop)
    finally:
        if own_meter:
            meter.close()
    in_suite = {c.id for c in suite.cases}
    measured = sum(1 for s in samples if s.get("case") in in_suite)
    stopped = max_minutes if measured < len(in_suite) else None
    here_probe = _cpu_probe() if device == "cpu" and probe else None
    priors, prior_source = _priors(here_probe, precision)
    try:
        if stopped is not None:
            _check_partial(samples, suite.cases)
        fitted = fit_profile(samples, folds=folds, gpu=device != "cpu", priors=priors, prior_source=prior_source,
                             fresh_pages=fresh_page_costs(here_probe))
    except GreenEstimateError as e:
        if stopped is None:
            raise
        raise GreenEstimateError(
            f"--max-minutes {stopped:g} stopped the run after {measured} of {len(in_suite)} networks, too few to fit: "
            f"{e}. Run the same command with --resume to measure the rest (with a larger --max-minutes, or none); "
            f"every network measured is kept in {samples_path}") from e
    about = _calibration_entries(precision, header["idle_power_w"], quick, elapsed, probe=here_probe)
    about["suite_networks"] = {"measured": measured, "in_suite": len(in_suite)}
    from green_estimate.pace import pace_summary

    paced = pace_summary(samples)
    about.update({"pace": paced} if paced else {})
    profile = dict(replace(fitted, name=name, device=info, meter=MeterEntry.of(meter), provenance=meter.provenance,
                           extras={**fitted.extras, **about}).build().data)
    write_profile(profile, profile_path)
    return CalibrationResult(profile, profile_path, samples_path, elapsed, measured_now, profile["repeat_noise"],
                             measured, len(in_suite), stopped)


MIN_FAMILY_NETWORKS = 2  # a run stopped early fits only where every family has this many networks


def _check_partial(samples: list[dict], cases: list[Case]) -> None:
    """Raise unless every architecture family of the suite has :data:`MIN_FAMILY_NETWORKS` networks
    measured (a family with fewer could be neither fitted nor left out; the reference architectures
    are not fitted, and fewer than 5 of them only leave the intervals unscaled)."""
    have: dict[str, int] = {c.p()["family"]: 0 for c in cases if c.p()["family"] != REFERENCE_FAMILY}
    for s in samples:
        fam = s.get("params", {}).get("family")
        if fam in have and s.get("kind") == "network":
            have[fam] += 1
    short = sorted(f for f, n in have.items() if n < MIN_FAMILY_NETWORKS)
    if short:
        raise GreenEstimateError(f"every architecture family needs {MIN_FAMILY_NETWORKS} networks; "
                                 + ", ".join(f"{f} has {have[f]}" for f in short))


def _default_name(device_name: str, device: str, quick: bool, precision: str) -> str:
    """``cpu-<model>`` or ``gpu-<model>``, with ``-quick`` and a non-fp32 precision appended."""
    return (("cpu-" if device == "cpu" else "gpu-") + _slug(device_name) + ("-quick" if quick else "")
            + ("" if precision == "fp32" else f"-{precision}"))


def _output_paths(out: Path | None, name: str) -> tuple[Path, Path]:
    """The profile path (``out``, else ``<profiles dir>/<name>.json``) and its samples file beside it."""
    profile_path = Path(out) if out else profiles_dir() / f"{name}.json"
    return profile_path, profile_path.with_name(profile_path.stem + ".samples.jsonl")


def _samples_header(info: DeviceEntry, meter: Meter, settings: RunSettings, precision: str, quick: bool) -> dict:
    """The samples file's header: device, meter, run settings and versions, so a resumed run can be checked."""
    import torch

    from green_estimate.counting.precision import precision_dtype

    return {"device_name": info.name, "device": info.to_dict(), "meter": meter.name, "meter_device": meter.device,
            "settings": {k: getattr(settings, k) for k in ("warmup_s", "window_s", "repeats", "max_step_flops")},
            "provenance": meter.provenance, "torch_version": torch.__version__,
            "dtype": precision_dtype(precision), "precision": precision, "quick": quick,
            "op_fields": list(OP_FIELDS),  # what an op row records: a resumed file must record the same
            "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _timed_suite_run(cases: list[Case], meter: Meter, samples_path: Path, header: dict, device: str,
                     settings: RunSettings, resume: bool,
                     on_progress: Callable[[int, int, str], None] | None,
                     pace: bool = False, stop: Callable[[], bool] | None = None) -> tuple[list[dict], int, float]:
    """Run the suite: all samples (resumed ones included), how many were measured now, and seconds taken."""
    t0 = time.perf_counter()
    before = len(read_samples(samples_path)[1]) if resume else 0
    pace_timer = None
    if pace:
        from green_estimate.pace import ReferenceTimer

        pace_timer = ReferenceTimer()
    samples = run_suite(cases, meter, samples_path, header, device=device, settings=settings,
                        resume=resume, on_progress=on_progress, pace_timer=pace_timer, stop=stop)
    return samples, len(samples) - before, time.perf_counter() - t0


def _cpu_probe() -> dict:
    """The device probe of this CPU (about 15 s), stored so the profile can be rescaled on another CPU."""
    from green_estimate.device_probe import run_probe

    return run_probe()


def fresh_page_costs(probe: dict | None) -> dict | None:
    """What a device probe measured of fresh pages (seconds per byte to fault a new tensor's pages in,
    and to unmap them), for :func:`fit_profile`; None for a probe without them (made before they were
    measured) or no probe (a GPU's calibration: its tensors are not the C library's)."""
    fault, unmap = (probe or {}).get("fresh_page_s_per_byte"), (probe or {}).get("unmap_s_per_byte")
    if fault is None or unmap is None:
        return None
    when = probe.get("fresh_pages_measured_utc") or probe.get("measured_utc")  # the former: added to an older probe
    return {"fault_s_per_byte": float(fault), "unmap_s_per_byte": float(unmap), "from": "device probe",
            **({"measured_utc": when} if when else {})}


def _priors(here_probe: dict | None, precision: str) -> tuple[dict[str, dict[str, float]], dict]:
    """What a CPU calibration with device probe ``here_probe`` may borrow from the shipped CPU profile
    (:mod:`green_estimate.calibration.priors`; nothing without a probe)."""
    if here_probe is None:
        return {}, {}
    from green_estimate.calibration.priors import borrowed_priors
    from green_estimate.profile_store import shipped_cpu_profile

    return borrowed_priors(shipped_cpu_profile(), here_probe, precision)


def _calibration_entries(precision: str, idle_power_w: float | None, quick: bool, elapsed_s: float,
                         probe: dict | None) -> dict:
    """What the profile says about how it was made besides device and meter: the CPU's ``probe``
    (when one was measured), precision, idle power, suite, time."""
    from green_estimate.counting.precision import precision_dtype

    return {**({"probe": probe} if probe else {}), "dtype": precision_dtype(precision), "precision": precision, "idle_power_w": idle_power_w,
            "suite": "quick" if quick else "full", "calibration_time_s": elapsed_s}


def _checked(gpu: int | None, precision: str) -> tuple[str, str]:
    """The precision (checked) and the device (``cpu`` or ``cuda:N``) of a calibration."""
    from green_estimate.counting.precision import check_precision

    precision = check_precision(precision)
    if precision == "tf32" and gpu is None:
        raise UsageError("--precision tf32 is a GPU tensor-core mode: calibrate a CPU at fp32, bf16 or fp16")
    if gpu is not None and gpu < 0:
        raise UsageError(f"--gpu {gpu}: give a GPU index from 0 (as `nvidia-smi -L` lists them)")
    return precision, "cpu" if gpu is None else f"cuda:{gpu}"


def _run_settings(s: dict, quick: bool) -> RunSettings:
    """Warm-up, windows, repeats and the largest step of the suite file's ``[settings]`` (``quick_*``
    keys, where the file has them, for the quick suite)."""
    def setting(key: str, default: float) -> float:
        return float(s.get(f"quick_{key}", s.get(key, default)) if quick else s.get(key, default))

    return RunSettings(
        warmup_s=setting("warmup_s", 0.03), window_s=setting("window_s", 0.05),
        repeats=int(s.get("quick_repeats" if quick else "repeats", 3 if quick else 5)),
        idle_s=float(s.get("idle_s", 2.0)), min_window_resolutions=float(s.get("min_window_resolutions", 10.0)),
        max_step_flops=float(s.get("quick_max_step_flops" if quick else "max_step_flops", 2e9)),
    )


def _idle_power_w(samples_path: Path, resume: bool, meter: Meter, device: str, idle_s: float) -> float | None:
    """The idle power of a resumed run as it was measured, else a GPU's measured now (None otherwise)."""
    import torch

    old_header, _ = read_samples(samples_path) if resume else (None, [])
    if old_header and "idle_power_w" in old_header:
        return old_header["idle_power_w"]
    if meter.provenance == "measured" and device != "cpu":
        from green_estimate.meters.probe import measure_idle_power_w

        torch.cuda.synchronize(device)
        return measure_idle_power_w(meter, idle_s)
    return None


def fit_profile(samples: list[dict], folds: int = 5, gpu: bool = False,
                priors: dict[str, dict[str, float]] | None = None, prior_source: dict | None = None,
                fresh_pages: dict | None = None) -> ProfileDocument:
    """A profile's models from network samples: op models per class, the step model, powers, intervals.

    ``gpu``: the samples' op times are a GPU's kernel times, so the step model's op-time scale is at
    least :data:`~green_estimate.calibration.step_fit.GPU_OP_SCALE_FLOOR`. ``priors``: per class,
    coefficients for op sizes the samples have too few networks of (see
    :mod:`green_estimate.calibration.priors`); what a class took is recorded under ``borrowed``, with
    ``prior_source`` (where they came from). ``fresh_pages``: the measured cost per byte of new tensors
    of 32 MiB or more (:func:`fresh_page_costs`): the memory-bound classes price faulting them in at
    it, the step model unmapping them (:data:`~green_estimate.calibration.fit.MEASURED_FEATURES`);
    without it the step model fits one cost for both. It is recorded under ``fresh_pages``.

    The document has no name, device or meter yet: :func:`calibrate` adds them.

    Raises:
        GreenEstimateError: too few samples for the classes every step has.
    """
    import torch

    # a network whose windows saw no energy (shorter than the meter's counter update; samples of
    # green-estimate before 2026-11-29 on a GPU) says nothing about power: left out
    samples = [s for s in samples if s.get("kind") == "network" and s.get("time_s", 0) > 0 and s.get("energy_j", 0) > 0]
    # standard models measured to test the fit, never fitted (calibration/references.py)
    references = [s for s in samples if s["params"].get("family") == REFERENCE_FAMILY]
    samples = [s for s in samples if s["params"].get("family") != REFERENCE_FAMILY]
    rows = class_rows(samples)
    known = {"bytes_fresh": fresh_pages["fault_s_per_byte"]} if fresh_pages else None
    classes = fit_classes(rows, folds=folds, priors=priors, known=known)
    borrowed = {cls: fitted["borrowed"] for cls, fitted in classes.items() if fitted.get("borrowed")}
    for needed in ("linear", "elementwise"):
        if needed not in classes:
            raise GreenEstimateError(f"calibration produced no {needed} model (too few samples): run the full suite")
    default = "elementwise"
    step = fit_step_model(samples, classes, rows, default, op_scale_floor=GPU_OP_SCALE_FLOOR if gpu else 0.0,
                          references=references,
                          fixed={"fresh_bytes": fresh_pages["unmap_s_per_byte"]} if fresh_pages else None)
    power = step["power_w"]
    entries = {}
    for cls, fitted in classes.items():
        w = power["classes"].get(cls, power["rest_w"])
        t = ClassModel.from_dict(fitted["time_s"])
        entries[cls] = ClassEntry(t, t.times(w), fitted["n_samples"], fitted["cv"], fitted["n_networks"], w)
    return ProfileDocument(
        classes=entries, default_class=default, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        time_provenance="measured", step_model=step,
        extras={"energy_basis": "total", "torch_version": torch.__version__, "dtype": "float32",
                "sample_count": len(samples), "repeat_noise": repeat_noise(samples), "method": "in-context",
                "uncalibrated_classes_priced_as": default, "count_revision": COUNT_REVISION,
                **({"borrowed": {**(prior_source or {}), "classes": borrowed}} if borrowed else {}),
                **({"fresh_pages": fresh_pages} if fresh_pages else {})})

