"""``predict``: a model's training energy and time, before training, with intervals.

The step is counted (:mod:`green_estimate.counting`), priced with a profile
(:mod:`green_estimate.pricing`) and multiplied out to a :class:`~green_estimate.training_plan.TrainingPlan`
(:mod:`green_estimate.prediction`). How it is priced — profile, precision, optimizer, confidence,
grid intensity, data parallelism — is one :class:`PredictSettings`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from green_estimate.counting.report import CostReport
from green_estimate.errors import UsageError
from green_estimate.fingerprint import cpu_fingerprint, same_cpu
from green_estimate.loading import Workload
from green_estimate.prediction import Prediction, PredictionSet
from green_estimate.pricing import ClassPrice, phase_time_s, price_step
from green_estimate.profile import Profile
from green_estimate.profile_store import check_precision_matches, resolve_profile
from green_estimate.training_plan import TrainingPlan


@dataclass(frozen=True)
class PredictSettings:
    """How a step is counted and priced: everything a prediction needs besides the model and the plan.

    Attributes:
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``none``.
        profile: a profile name, path, ``datasheet:<gpu>``, a :class:`~green_estimate.profile.Profile`, or
            None for this machine's default.
        precision: ``fp32``, ``tf32``, ``bf16`` or ``fp16``; the step is counted under it and the profile
            must price it.
        confidence: the probability of the prediction intervals.
        grid_intensity, region: g CO2e/kWh, or a region code of the offline table (neither: no CO2e).
        nodes, interconnect, fsdp, overlap: data parallelism over the plan's GPUs (docs/parallel.md).
    """

    optimizer: str = "adam"
    profile: str | Profile | None = None
    precision: str = "fp32"
    confidence: float = 0.9
    grid_intensity: float | None = None
    region: str | None = None
    nodes: int = 1
    interconnect: str | None = None
    fsdp: bool = False
    overlap: float | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def count_settings(prof: Profile) -> dict:
    """How to count a step for this profile: its device kind picks autocast's op lists and the attention
    kernel; a calibrated profile's in-context attention scale was fitted on attention's math
    decomposition, so its steps are counted with that (see counting/attention.py)."""
    return {"target": "cuda" if prof.is_gpu else "cpu", "attention": "math" if prof.step else "auto"}


def predict(
    model: str,
    *,
    batch_size: int = 64,
    epochs: int = 1,
    samples: int | None = None,
    steps: int | None = None,
    grad_accum: int = 1,
    gpus: int = 1,
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: dict | None = None,
    input_dtype: str | None = None,
    vocab_size: int | None = None,
    **settings: Any,
) -> Prediction:
    """Predict the energy and time of training MODEL (``file.py[:name]`` or ``pkg.module[:name]``).

    The plan: ``batch_size`` is the micro-batch of one GPU; ``grad_accum`` micro-batches make an
    optimizer step; ``gpus`` GPUs train data-parallel; ``samples`` × ``epochs`` or ``steps`` in all.
    ``settings`` are the fields of :class:`PredictSettings` (profile, precision, optimizer, confidence,
    grid_intensity, region, nodes, interconnect, fsdp, overlap). This is the predictor ``check`` and
    ``plan`` call with their options.

    Example:
        >>> predict("green_estimate/examples/simple_cnn.py", samples=60000, epochs=25, batch_size=512)
        >>> predict("gpt.py", steps=1000, batch_size=8, grad_accum=4, gpus=64, nodes=8, profile="datasheet:h100-sxm")
    """
    from green_estimate.loading import load_workload

    plan = TrainingPlan(batch_size, epochs, samples, steps_given=steps, grad_accum=grad_accum, gpus=gpus)

    def load() -> Workload:
        return load_workload(model, input_shape=input_shape, model_kwargs=model_kwargs, input_dtype=input_dtype,
                             vocab_size=vocab_size)

    return predict_workload(load, plan, PredictSettings(**settings))


def predict_models(models: list[str], plan: TrainingPlan, settings: PredictSettings, *,
                   input_shape: tuple[int, ...] | None = None, input_dtype: str | None = None,
                   vocab_size: int | None = None) -> PredictionSet:
    """What ``green-estimate predict`` does: each MODEL file predicted for one plan, compared with the first."""
    from green_estimate.loading import load_workload

    def loader(model: str) -> Callable[[], Workload]:
        return lambda: load_workload(model, input_shape=input_shape, input_dtype=input_dtype, vocab_size=vocab_size)

    return PredictionSet([predict_workload(loader(m), plan, settings) for m in models])


def predict_workload(workload: Workload | Callable[[], Workload], plan: TrainingPlan,
                     settings: PredictSettings | None = None) -> Prediction:
    """Count a workload's step and price ``plan`` of it (what :func:`predict` and the Python API share).

    ``workload`` may be a function that loads it: it is called after the settings, the profile and the
    carbon intensity are checked, so a bad option fails before a model file is imported.
    """
    from green_estimate.carbon import grid_intensity_g_per_kwh
    from green_estimate.counting.counter import count_workload
    from green_estimate.counting.precision import check_precision
    from green_estimate.parallel import DEFAULT_OVERLAP, ParallelPlan, require_gpu_profile

    s = settings or PredictSettings()
    parallel = ParallelPlan(plan.gpus, s.nodes, s.interconnect, s.fsdp, DEFAULT_OVERLAP if s.overlap is None else s.overlap)
    if s.interconnect is not None:
        from green_estimate.interconnect import parse_interconnects

        parse_interconnects(s.interconnect)  # a misspelt link fails even when it would not be used
    carbon = grid_intensity_g_per_kwh(region=s.region, grid_intensity=s.grid_intensity)
    precision = check_precision(s.precision)
    prof = resolve_profile(s.profile, precision=precision)  # fail on a bad profile before counting
    check_precision_matches(prof, precision)
    require_gpu_profile(prof, plan.gpus)
    loaded = workload() if callable(workload) else workload
    report = count_workload(loaded, batch_size=plan.batch_size, optimizer=s.optimizer, precision=precision,
                            **count_settings(prof))
    return predict_report(report, plan=plan, profile=prof, confidence=s.confidence, carbon=carbon, parallel=parallel)


def predict_report(
    report: CostReport,
    *,
    plan: TrainingPlan,
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    carbon: Any = None,
    probe: bool = True,
    parallel: Any = None,
) -> Prediction:
    """Price an already counted step (one micro-batch and the optimizer update).

    ``probe``: when the profile was made on another CPU, probe this one and rescale the profile
    (see :mod:`green_estimate.transfer`); ``False`` prices as on the machine that made it.
    ``plan.grad_accum`` micro-batches make one optimizer step (:mod:`green_estimate.accumulation`);
    ``parallel`` (a :class:`~green_estimate.parallel.ParallelPlan`) adds the collectives of data
    parallelism on ``plan.gpus`` GPUs (:mod:`green_estimate.parallel`).
    """
    from green_estimate.accumulation import optimizer_step

    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: give a probability between 0 and 1, e.g. 0.9")
    if parallel is not None and parallel.gpus != plan.gpus:
        raise UsageError(f"the plan has {plan.gpus} GPU(s) but the parallel plan {parallel.gpus}: give one --gpus")
    prof = resolve_profile(profile, precision=report.precision)
    check_precision_matches(prof, report.precision)
    transfer_notes: list[str] = []
    if probe:
        from green_estimate.transfer import transfer_profile

        prof, transfer_notes = transfer_profile(prof)
    step = optimizer_step(report, plan.grad_accum)
    classes = price_step(step, prof)
    notes = _profile_notes(prof, classes, step) + transfer_notes + list(step.notes)
    comm = None
    if plan.gpus > 1:
        comm = _communication(report, step, prof, parallel, plan.grad_accum, classes, plan.gpus)
        notes += comm.notes
    if plan.samples is None and plan.steps_given is None:
        notes.append("No --samples or --steps given: the total is one step per epoch.")
    return Prediction(report.model, prof, plan, confidence, classes, step, carbon, notes, parallel=comm)


def _communication(report: CostReport, step: CostReport, prof: Profile, parallel: Any, grad_accum: int,
                   classes: dict[str, ClassPrice], gpus: int) -> Any:
    from green_estimate.parallel import ParallelPlan, price_communication

    parallel = parallel or ParallelPlan(gpus=gpus)
    # what communication can hide behind: DDP the last micro-batch's backward, FSDP every forward and backward
    window = (phase_time_s(step, prof, ("forward", "backward")) if parallel.fsdp
              else phase_time_s(report, prof, ("backward",)))
    return price_communication(parallel, prof, grad_bytes=report.grad_bytes, grad_accum=grad_accum,
                               window_s=window, compute_time_s=sum(c.time_s for c in classes.values()))


# A calibrated CPU profile prices steps in a settled process (green_estimate/allocator.py).
ALLOCATOR_NOTE = ("CPU times are those of a process whose malloc has settled, as calibration measured them; in a "
                  "fresh process mid-size CNNs trained 10-33% slower until it called "
                  "green_estimate.allocator.settle() (docs/predict.md).")


# A CPU profile whose samples were counted before GRUs and plain RNNs were counted as a CPU runs them
# (green_estimate/counting/cpu_recurrence.py): its recurrent scales fit another count.
RECURRENT_REVISION = 2


# A step whose new tensors of 32 MiB or more take at least this share of its predicted time gets a note:
# their pages cost what the device probe measured alone, and inside real steps on the 2-vCPU EPYC VM
# that cost ran from about 0.1 to 0.3 ns/byte from one op and model to another (docs/performance.md, runs DC
# to DJ).
FRESH_NOTE_SHARE = 0.2


def fresh_page_note(report: CostReport, step_time_s: float, fresh_pages: Mapping[str, Any] | None,
                    ratios: Mapping[str, float] | None = None) -> str | None:
    """A note when the fresh pages of ``report``'s step, at a profile's measured costs (its ``fresh_pages``),
    are at least :data:`FRESH_NOTE_SHARE` of ``step_time_s`` (the predicted step); ``None`` otherwise.
    ``ratios``: a carried profile's probe ratios (its ``transfer``), which rescale both costs to this CPU
    as they rescale the profile's coefficients."""
    from green_estimate.device_probe import feature_ratio, step_feature_ratio
    from green_estimate.features import fresh_bytes

    if not fresh_pages or step_time_s <= 0:
        return None
    fresh = fresh_bytes(report.ops)
    fault, unmap = float(fresh_pages["fault_s_per_byte"]), float(fresh_pages["unmap_s_per_byte"])
    if ratios:
        fault *= feature_ratio("bytes_fresh", dict(ratios))
        unmap *= step_feature_ratio("fresh_bytes", dict(ratios))
    share = fresh * (fault + unmap) / step_time_s
    if share < FRESH_NOTE_SHARE:
        return None
    where = " (rescaled to this CPU)" if ratios else ""
    return (f"This step writes {fresh / 1e6:,.0f} MB to new tensors of 32 MiB or more, which take fresh pages: at the "
            f"costs the profile's device probe measured{where} ({fault * 1e9:.2f} ns/byte to fault them in, "
            f"{unmap * 1e9:.2f} to unmap them) that is {share:.0%} of the predicted step. Inside real steps that cost "
            "ran from about 0.1 to 0.3 ns/byte from one op and model to another on the machine we measured "
            "(docs/calibration.md), so this part of the step may be off by up to 2x either way.")


def _profile_notes(prof: Profile, classes: dict[str, ClassPrice], report: CostReport) -> list[str]:
    notes = []
    if prof.provenance == "measured-runs":
        runs = prof.runs_model or {}
        src = runs.get("source", {})
        notes.append(f"Energy figures are measured-runs: profile {prof.name} was fitted to {src.get('runs', '?')} "
                     f"measured whole training runs ({src.get('path', '?')}) from prior "
                     f"{runs.get('prior', {}).get('profile', '?')}.")
    elif prof.provenance != "measured":
        notes.append(f"Energy figures are {prof.provenance}: profile {prof.name} has no measured energy"
                     + (" (time × assumed watts)." if prof.provenance == "estimated" else " (vendor figures)."))
    defaulted = sorted(c for c, p in classes.items() if p.priced_as != c)
    if defaulted:
        notes.append(f"Classes without their own calibration, priced as {prof.default_class}: {', '.join(defaulted)}.")
    dev = prof.device
    if dev.get("kind") == "cpu":
        if prof.step is not None:
            notes.append(ALLOCATOR_NOTE)
            from green_estimate.zero_moments import zero_moment_note

            step_s = sum(c.time_s for c in classes.values())
            notes += [n for n in (zero_moment_note(report, step_s),
                                  fresh_page_note(report, step_s, prof.data.get("fresh_pages"),
                                                  (prof.transfer or {}).get("ratios"))) if n]
            if prof.count_revision < RECURRENT_REVISION and any(o.fused == "rnn" for o in report.ops):
                notes.append(f"Profile {prof.name} was calibrated before GRUs and plain RNNs were counted as a CPU runs "
                             "them: its in-step scales of recurrent layers were fitted to another count, and this step's "
                             "are priced lower than they meant (the benchmark GRU of docs/performance.md by 10%). "
                             "Recalibrate: `green-estimate calibrate --cpu`.")
        try:
            # a profile carried here by the device probe says so in its own note, with the figures
            if prof.transfer is None and not same_cpu(dev.get("fingerprint") or {}, cpu_fingerprint(), threads=False):
                notes.append(f"Profile {prof.name} was measured on another device ({prof.made_on}).")
        except Exception:  # noqa: BLE001 - a note must never break a prediction
            pass
    return notes


def predict_model(
    build_model: Callable[[], Any],
    *,
    input_shape: tuple[int, ...],
    batch_size: int,
    steps: int,
    optimizer: str = "adam",
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    name: str = "model",
    device: str | None = None,
) -> dict:
    """Predict an in-process model (``validate`` uses this before each trial trains); returns the JSON dict.

    ``device`` (``cpu`` or ``cuda:N``) picks the default profile when ``profile`` is None.
    """
    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import Workload

    prof = resolve_profile(profile, device)
    report = count_workload(Workload(name=name, build=build_model, input_shape=tuple(input_shape)),
                            batch_size=batch_size, optimizer=optimizer, **count_settings(prof))
    plan = TrainingPlan(batch_size=batch_size, epochs=1, samples=None, steps_given=steps)
    return predict_report(report, plan=plan, profile=prof, confidence=confidence).to_dict()
