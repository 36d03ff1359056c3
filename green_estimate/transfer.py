"""Carrying a CPU profile to the CPU it is used on: rescale by the device probe, say so in numbers.

Only calibrated CPU profiles that carry a probe are rescaled, and only when this CPU (model name,
identity numbers, vector instructions or thread count) is not the one that made them. The rescaled
profile records what was done in its ``transfer`` entry, which every prediction prints:

1. each op-model coefficient is multiplied by the ratio of the rate it stands for (square- or
   thin-GEMM FLOP rate, the convolution's FLOP rate for the conv class, memory bandwidth, aten
   dispatch cost), the step model's between-op terms by this machine's Python and dispatch speed;
2. the profile's reference steps (fixed calibration networks) are predicted with the rescaled
   profile and compared with their time measured here, relative to how well the profile predicted
   them on its own machine (so the profile's own error is not taken for a transfer error);
3. the interval is widened (in log) by the median of those reference errors — the transfer error
   measured on this machine. They do not move the prediction itself: three fixed steps cannot tell
   a machine-wide factor from one step's own kernel path, and on the first real foreign CPU
   measured (a 16-thread Xeon; docs/performance.md, run H200-d) the CNN reference's 7×7
   convolution over 8 channels ran 10× slower than on the machine that made the profile while the
   probe's convolution ran 2.6× faster: their geometric mean (×4.55), applied to every time, put
   the benchmark's unseen models 357% too slow, the rates alone 9.9%.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

from green_estimate.fingerprint import cpu_fingerprint, describe_cpu, same_cpu
from green_estimate.profile import Profile


def _foreign(profile: Profile) -> bool:
    dev = profile.device
    if dev.get("kind") != "cpu" or profile.probe is None or profile.transfer is not None:
        return False
    return not same_cpu(dev.get("fingerprint", {}), cpu_fingerprint())


def rescaled(profile: Profile, r: dict[str, float]) -> Profile:
    """A copy of ``profile`` with coefficients multiplied by the probe ratios ``r`` (the step model's
    op-time scales stay: the ops they scale are rescaled already)."""
    from green_estimate.device_probe import feature_ratio, step_feature_ratio

    return profile.rescaled(class_factor=lambda cls, f: feature_ratio(f, r, cls), step_factor=lambda f: step_feature_ratio(f, r))


def _reference_report(ref: dict) -> Any:
    """The counted step of one reference network (a CostReport)."""
    from green_estimate.calibration.incontext import count_network
    from green_estimate.counting.report import CostReport

    batch, ops, ignored, structure = count_network(ref["family"], ref["seed"], ref["batch"], ref["optimizer"])
    return CostReport("reference", batch, ref["optimizer"], 0, [], ops, ignored, param_tensors=structure["param_tensors"])


def _step_time_s(profile: Profile, report: Any) -> float:
    from green_estimate.pricing import price_step

    return sum(c.time_s for c in price_step(report, profile).values())


def reference_log_errors(profile: Profile, scaled: Profile, here: dict) -> list[float]:
    """Per reference step of ``profile``'s probe: log(its time measured here / ``scaled``'s price of it)
    less the same on the profile's own machine — the transfer's error alone, not the profile's own
    (a step this probe did not time is timed now)."""
    from green_estimate.device_probe import reference_step_time_s

    measured = {(x["family"], x["seed"], x["batch"]): x["time_s"] for x in here.get("reference_steps", [])}
    logs = []
    for ref in (profile.probe or {}).get("reference_steps", []):
        key = (ref["family"], ref["seed"], ref["batch"])
        meas = measured.get(key) or reference_step_time_s(ref["family"], ref["seed"], ref["batch"], ref["optimizer"])
        report = _reference_report(ref)
        home = math.log(ref["time_s"] / _step_time_s(profile, report))
        logs.append(math.log(meas / _step_time_s(scaled, report)) - home)
    return logs


def reference_factors(logs: list[float]) -> str:
    """The reference steps' errors as the notes show them: "×27.76, ×1.54, ×2.50"."""
    return ", ".join(f"×{math.exp(x):.2f}" for x in logs)


def transfer_log_error(logs: list[float]) -> float:
    """How much a carried profile's interval widens (in log): the median of its reference steps' errors."""
    return statistics.median(abs(x) for x in logs) if logs else 0.0


def carry(profile: Profile, here: dict) -> tuple[dict[str, float], Profile, list[float], float]:
    """How ``profile`` is carried to the CPU of probe ``here``: the rate ratios, the rescaled profile,
    its reference steps' log errors and the interval's widening (what predict applies and
    ``green-estimate probe`` shows)."""
    from green_estimate.device_probe import ratios

    r = ratios(profile.probe, here)
    scaled = rescaled(profile, r)
    logs = reference_log_errors(profile, scaled, here)
    return r, scaled, logs, transfer_log_error(logs)


def transfer_profile(profile: Profile) -> tuple[Profile, list[str]]:
    """``profile`` carried to this CPU (unchanged when it was made here), and notes saying what was done."""
    if not _foreign(profile):
        return profile, []
    if profile.carried is not None:  # carried once per profile object: validate prices every trial with it
        return profile.carried
    from green_estimate.device_probe import probe_here

    here = probe_here()
    r, scaled, logs, log_error = carry(profile, here)
    to = describe_cpu(here["fingerprint"])
    final = scaled.replaced(transfer={
        "from": profile.made_on, "to": to, "ratios": r, "reference_log_errors": logs,
        "log_error": log_error, "probe_cached": here.get("cached", False),
        "probe_measured_utc": here.get("measured_utc"),
    })
    conv = f"convolution ×{r['conv_flops']:.2f}, " if "conv_flops" in r else ""
    notes = [f"Profile {profile.name} was made on {profile.made_on}; rescaled to this CPU, {to}, "
             "by a device probe "
             f"(GEMM ×{r['flops']:.2f}, {conv}bandwidth ×{r['bytes']:.2f}, dispatch ×{r['dispatch']:.2f}); "
             f"its reference steps took {reference_factors(logs)} the time it predicts for them here (against its own machine), "
             f"and the interval is widened by the median of those, the measured transfer error ({math.exp(log_error) - 1:.0%}). Calibrate here for a tighter one: "
             "`green-estimate calibrate --cpu --quick`."]
    if here.get("cached") and here.get("cache_path"):
        # one probe stands for this CPU until it is deleted: a minute the machine ran fast or slow in stays in it
        notes[0] += (f" The probe was measured at {here.get('measured_utc')} and cached in {here['cache_path']}; "
                     "`green-estimate probe` measures it again.")
    profile.carried = (final, notes)
    return final, notes


def probe_report(profile: Profile, refresh: bool = True) -> dict[str, Any]:
    """This CPU's device probe (measured now and cached unless ``refresh`` is False, then the cached one),
    the probe it replaced, and ``profile``'s own probe and how it is carried here (``carried``, the rate
    ``ratios``, each reference step's error after them and the interval's widening, ``log_error``; a
    profile made on this CPU, or without a probe, is not): what ``green-estimate probe`` shows.

    Raises:
        ProfileError: ``refresh`` is False and no probe is cached for this CPU.
    """
    from green_estimate.device_probe import cached_probe, probe_here
    from green_estimate.errors import ProfileError

    previous = cached_probe()
    if not refresh and previous is None:
        raise ProfileError("no device probe is cached for this CPU, its thread count and this torch: measure one "
                           "with `green-estimate probe` (about 14 s)")
    here = probe_here(refresh=True) if refresh else previous
    carried = _foreign(profile)
    r, _, logs, log_error = carry(profile, here) if carried else (None, None, None, None)
    return {
        "schema": "green-estimate/probe-report@1",
        "machine": describe_cpu(here["fingerprint"]),
        "probe": here,
        "previous": previous if refresh else None,
        "profile": {"name": profile.name, "made_on": profile.made_on, "kind": profile.device.get("kind"), "carried": carried,
                    "probe": profile.probe, "ratios": r, "reference_log_errors": logs, "log_error": log_error},
    }
