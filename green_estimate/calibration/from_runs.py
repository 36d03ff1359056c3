"""``calibrate --from-runs``: update a prior profile with measured whole training runs.

Each distinct configuration of the runs file (model, variant, input, batch, optimizer, steps) is
counted once and priced by the prior; the runs model (:mod:`green_estimate.runs.model`) then has
ten parameters — three in-context scales, four host terms, three powers — each with a prior from
the prior profile. The fit is the posterior mode (MAP): least squares over the log errors of the
configurations' mean per-step energy (and time, where measured), each weighted by
``1/(sigma_model² + spread²/n)``, plus one prior residual per parameter ``(value − prior)/prior_sd``
(log values for factors and powers; host terms are non-negative). That is a ridge update towards the
prior: parameters the runs do not constrain stay where the prior put them. The covariance is the
Laplace approximation ``(JᵀJ)⁻¹`` at the mode.

Intervals: every configuration is predicted by a fit that left it out (leave one configuration
out, LOCO); the log errors update a prior error scale ``sigma0`` (the prior profile's own typical
log error, worth ``NU0`` configurations) to ``sigma² = (NU0·sigma0² + Σ e²) / (NU0 + n)``, and an
interval at confidence c is ``point × exp(± t_{NU0+n}(c) · sigma)``. With few runs the t quantile and
the prior's ``sigma0`` keep it wide; it narrows only as left-out configurations are predicted well.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import UsageError
from green_estimate.profile import Profile
from green_estimate.profile_document import MeterEntry
from green_estimate.runs import model as rm
from green_estimate.runs.prior import Prior, prior_from_profile  # noqa: F401 - part of this module's API
from green_estimate.runs.runsfile import Run

MEASURED_RUNS = "measured-runs"
#: Relative (log) error a configuration's mean can have beyond its measured spread: the runs model
#: is additive and coarse, so it is not expected to fit any configuration better than this.
SIGMA_MODEL = 0.1
#: Residuals (in sigmas) beyond which a configuration's pull grows linearly (soft-L1), not quadratically.
ROBUST_C = 2.0
#: Log spread assumed for a configuration measured once (no repeats to estimate it from).
SINGLE_RUN_SPREAD = 0.05
#: How many configurations the prior's own error scale is worth in the interval's error scale.
NU0 = 2.0


@dataclass
class Configuration:
    """The runs of one configuration, aggregated per step, and the prior's view of its step."""

    key: str
    label: str
    runs: list[Run]
    basis: rm.StepBasis
    idle_included: bool
    energy: tuple[float, float, int] | None  # (mean log J per step, sd of log, runs)
    time: tuple[float, float, int] | None

    def to_dict(self) -> dict:
        return {"label": self.label, "runs": len(self.runs), "steps": self.runs[0].steps,
                "batch_size": self.runs[0].batch_size, "model": self.runs[0].model,
                "model_args": self.runs[0].model_args, "basis": self.basis.to_dict()}


@dataclass
class Fit:
    params: dict[str, float]
    sd: dict[str, float]
    cov_u: list[list[float]]
    cost: float


@dataclass
class FromRunsResult:
    """A profile fitted to measured runs, and how well it predicts configurations it did not see."""

    profile: dict
    profile_path: Path | None
    configurations: list[dict]
    runs: int
    prior: str

    def to_dict(self) -> dict:
        rm_ = self.profile["runs_model"]
        return {"schema": "green-estimate/calibration-runs@1", "profile_path": str(self.profile_path or ""),
                "profile": {k: v for k, v in self.profile.items() if k not in ("classes", "runs_model", "sources")},
                "prior": self.prior, "runs": self.runs, "params": rm_["params"], "param_sd": rm_["param_sd"],
                "interval": rm_["interval"], "loco": rm_["loco"], "configurations": self.configurations}


def _log_stats(values: list[tuple[float, int]]) -> tuple[float, float, int]:
    """The typical log value of a configuration's runs, its spread, and the number of measurements.

    The median (each row counted ``repetitions`` times) and 1.4826 × the median absolute deviation:
    a run slowed by other work on a shared machine moves neither.
    """
    import numpy as np

    logs = np.repeat([math.log(v) for v, _ in values], [w for _, w in values])
    n = len(logs)
    mid = float(np.median(logs))
    if len(values) < 2:
        return mid, SINGLE_RUN_SPREAD, n
    spread = 1.4826 * float(np.median(np.abs(logs - mid)))
    return mid, max(spread, 1e-3), n


def configurations(runs: list[Run], base: Any, idle0_w: float,
                   on_progress: Callable[[int, int, str], None] | None = None) -> list[Configuration]:
    """Group runs by configuration, count each once and price it with the prior ``base``.

    Raises:
        ModelLoadError: a run's model cannot be built (the message names the model).
    """
    from green_estimate.counting.counter import count_model
    from green_estimate.errors import ModelLoadError
    from green_estimate.pricing import price_step

    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.config_key, []).append(r)
    out = []
    for i, (key, rs) in enumerate(groups.items()):
        r = rs[0]
        if on_progress:
            on_progress(i, len(groups), r.label)
        try:
            report = count_model(r.model, batch_size=r.batch_size, optimizer=r.optimizer, input_shape=r.input_shape,
                                 model_kwargs=r.model_args)
        except ModelLoadError as e:
            raise ModelLoadError(f"runs file row {r.row} ({r.run}): {e}") from e
        idle = {x.idle_included for x in rs}
        if len(idle) > 1:
            raise UsageError(f"runs file rows {rs[0].row} and later: one configuration mixes energies with and without "
                             "idle draw; split them or correct idle_included")
        energy = [(x.energy_j / x.steps, x.repetitions) for x in rs if x.energy_j is not None]
        time = [(x.time_s / x.steps, x.repetitions) for x in rs if x.time_s is not None]
        out.append(Configuration(key, r.label, rs, rm.basis(price_step(report, base), report, idle0_w), idle.pop(),
                                 _log_stats(energy) if energy else None, _log_stats(time) if time else None))
    if on_progress:
        on_progress(len(groups), len(groups), "")
    return out


def _to_u(name: str, value: float, prior: Prior) -> float:
    return math.log(value) if name in rm.LOG_PARAMS else value / prior.sd[name]


def _from_u(u: Any, prior: Prior) -> dict[str, float]:
    return {n: (math.exp(x) if n in rm.LOG_PARAMS else x * prior.sd[n]) for n, x in zip(rm.PARAMS, u)}


def predict_config(c: Configuration, p: dict[str, float]) -> tuple[float, float]:
    """Per-step ``(energy_j, time_s)`` of a configuration; energy above idle when its runs exclude idle."""
    e, t, _ = rm.step_cost(c.basis, p)
    return (e if c.idle_included else e - p["idle_w"] * t), t


def _residuals(u: Any, confs: list[Configuration], prior: Prior) -> list[float]:
    p = _from_u(u, prior)
    res = []
    for c in confs:
        e, t = predict_config(c, p)
        for obs, pred in ((c.energy, e), (c.time, t)):
            if obs is None:
                continue
            mean, spread, n = obs
            sigma = math.sqrt(SIGMA_MODEL ** 2 + spread ** 2 / n)
            r = (math.log(max(pred, 1e-30)) - mean) / sigma
            # soft-L1 beyond ROBUST_C sigmas: a configuration the model cannot fit (or measured under
            # contention) pulls linearly, not quadratically, so it cannot drag every parameter
            res.append(math.copysign(ROBUST_C * math.sqrt(2 * (math.sqrt(1 + (r / ROBUST_C) ** 2) - 1)), r))
    for name, x in zip(rm.PARAMS, u):
        if name in rm.LOG_PARAMS:
            res.append((x - math.log(prior.mean[name])) / prior.sd[name])
        else:
            res.append(x - prior.mean[name] / prior.sd[name])
    return res


def fit(confs: list[Configuration], prior: Prior) -> Fit:
    """The posterior mode of the ten parameters and their Laplace covariance."""
    import numpy as np
    from scipy.optimize import least_squares

    u0 = np.array([_to_u(n, prior.mean[n], prior) for n in rm.PARAMS])
    lower = np.array([-np.inf if n in rm.LOG_PARAMS else 0.0 for n in rm.PARAMS])
    res = least_squares(lambda u: _residuals(u, confs, prior), u0, bounds=(lower, np.inf), method="trf",
                        x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
    J = res.jac
    cov = np.linalg.pinv(J.T @ J)
    params = _from_u(res.x, prior)
    for n in rm.HOST_PARAMS:  # a term pressed against its bound is zero, not 1e-40
        if params[n] < 1e-9 * prior.sd[n]:
            params[n] = 0.0
    sd = {}
    for i, n in enumerate(rm.PARAMS):
        s = math.sqrt(max(cov[i, i], 0.0))
        sd[n] = s if n in rm.LOG_PARAMS else s * prior.sd[n]  # log-sd for factors and powers, absolute else
    return Fit(params, sd, cov.tolist(), float(res.cost))


def _loco(confs: list[Configuration], prior: Prior, fitted: dict[str, float]) -> list[dict]:
    """Per configuration: measured (geometric mean), the prior's, a fit without it, and the full fit."""
    out = []
    for i, c in enumerate(confs):
        rest = confs[:i] + confs[i + 1:]
        p = fit(rest, prior).params if rest else prior.mean
        e, t = predict_config(c, p)
        pe, pt = predict_config(c, prior.mean)
        fe, ft = predict_config(c, fitted)
        row: dict[str, Any] = {"label": c.label, "runs": len(c.runs)}
        for target, obs, pred, pri, full in (("energy_j", c.energy, e, pe, fe), ("time_s", c.time, t, pt, ft)):
            if obs is None:
                continue
            steps = c.runs[0].steps
            measured = math.exp(obs[0])
            row[target] = {"measured_per_run": measured * steps, "prior_per_run": pri * steps,
                           "left_out_per_run": pred * steps, "fitted_per_run": full * steps,
                           "left_out_log_err": math.log(pred / measured), "prior_log_err": math.log(pri / measured),
                           "fitted_log_err": math.log(full / measured), "spread_log": obs[1]}
        out.append(row)
    return out


def _interval(loco: list[dict], prior: Prior) -> dict:
    iv = {}
    for target in ("energy_j", "time_s"):
        errs = [r[target]["left_out_log_err"] for r in loco if target in r]
        n = len(errs)
        s0 = prior.sigma0[target]
        var = (NU0 * s0 ** 2 + sum(e * e for e in errs)) / (NU0 + n)
        iv[target] = {"sigma_log": math.sqrt(var), "df": NU0 + n, "configurations": n, "sigma0_log": s0,
                      "nu0": NU0, "loco_abs_log_err": sorted(round(abs(e), 5) for e in errs),
                      "method": "leave one configuration out; scaled-inverse-chi-square update of the prior's error"}
    return iv


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


def calibrate_from_runs(
    runs_path: Path | str,
    *,
    prior: str | Any | None = None,
    mapping: Path | str | None = None,
    out: Path | None = None,
    name: str | None = None,
    write: bool = True,
    keep_contended: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> FromRunsResult:
    """Fit a profile to measured whole runs, starting from ``prior`` (a name, path or Profile).

    Args:
        runs_path: a runs file, a ``validate`` trials.csv, a CodeCarbon emissions.csv or a Zeus log.
        prior: ``datasheet:<gpu>``, a calibrated profile, or a profile already fitted to runs; None
            takes the datasheet profile of the runs' device.
        mapping: the mapping file CodeCarbon and Zeus logs need (see :mod:`green_estimate.runs.importers`).
        out: profile path; default ``<profiles dir>/<name>.json``.
        name: profile name; default from the device and the runs file.
        write: False returns the profile without writing it.
        keep_contended: keep validate trials measured under contention (left out by default).
        on_progress: ``(done, total, label)`` while configurations are counted.

    Raises:
        RunsFileError: a bad runs file (the message names the row).
        UsageError: runs of several devices in one file.
        ProfileError: an unusable prior.
    """
    from green_estimate.profile_store import profiles_dir, write_profile
    from green_estimate.runs.importers import load_runs

    runs_path = Path(runs_path)
    runs, fmt, load_notes = load_runs(runs_path, mapping, keep_contended)
    devices = _one_device(runs, runs_path)
    base, pri = _carried_prior(prior, devices[0])
    confs = configurations(runs, base, pri.idle0_w, on_progress)
    result = fit(confs, pri)
    loco = _loco(confs, pri, result.params)
    has_time = any(c.time is not None for c in confs)
    source = _source_entry(runs_path, fmt, runs, len(confs), devices, load_notes)
    runs_model = _runs_model_entry(result, pri, _intervals(loco, pri, has_time), loco, source)
    name = name or f"{_slug(devices[0])}-{_slug(runs_path.stem)}"
    data = dict(_fitted_profile(base, name, pri, has_time, runs_model).data)  # checked: the result loads
    path = None
    if write:
        path = write_profile(data, Path(out) if out else profiles_dir() / f"{name}.json")
    return FromRunsResult(data, path, [c.to_dict() for c in confs], len(runs), pri.profile)


def _one_device(runs: list[Run], runs_path: Path) -> list[str]:
    """The runs' device, as a one-item list: a profile prices one device, so a mixed file is refused."""
    devices = sorted({r.device for r in runs})
    if len(devices) > 1:
        raise UsageError(f"{runs_path}: runs of {len(devices)} devices ({', '.join(devices)}): a profile is one "
                         "device's; split the file by device")
    return devices


def _carried_prior(prior: str | Any | None, device: str) -> tuple[Any, Prior]:
    """The prior profile (``prior``, else ``device``'s datasheet), carried to this machine, and its parameters.

    A CPU prior made on another CPU is carried here first, as predict would carry it: the fitted
    profile keeps the carried models (and its ``transfer`` entry), so it prices as it was fitted.
    """
    from green_estimate.profile_store import resolve_profile

    if prior is None:
        prior = _datasheet_prior(device)
    base, pri = prior_from_profile(resolve_profile(prior))
    from green_estimate.transfer import transfer_profile

    base, _ = transfer_profile(base)
    return base, pri


def _datasheet_prior(device: str) -> str:
    """``datasheet:<gpu>`` for the runs' device when no prior is given; no datasheet entry is a UsageError."""
    from green_estimate.datasheet import match_gpu

    spec = match_gpu(device)
    if spec is None:
        raise UsageError(f"no --prior given and {device!r} has no datasheet entry: give --prior "
                         "datasheet:<gpu> or a calibrated profile (see `green-estimate profiles`)")
    return f"datasheet:{spec.key}"


def _intervals(loco: list[dict], prior: Prior, has_time: bool) -> dict:
    """The energy and time intervals; time never measured keeps the prior's error scale."""
    interval = _interval(loco, prior)
    if not has_time:
        interval["time_s"].update({"sigma_log": prior.sigma0["time_s"], "df": NU0, "configurations": 0})
    return interval


def _source_entry(runs_path: Path, fmt: str, runs: list[Run], n_configurations: int, devices: list[str],
                  load_notes: list[str]) -> dict:
    """Where the runs came from: the file (name, sha256, format), what it holds, and what it cites."""
    return {"path": runs_path.name, "sha256": _sha256(runs_path), "format": fmt, "runs": len(runs),
            "configurations": n_configurations, "devices": devices,
            "meters": sorted({r.meter for r in runs if r.meter}),
            "description": "fitted to measured whole training runs",
            "cited": sorted({r.source.split(" src/")[0] for r in runs if r.source})[:3],
            "notes": load_notes}


def _runs_model_entry(result: Fit, prior: Prior, interval: dict, loco: list[dict], source: dict) -> dict:
    """The profile's ``runs_model``: fitted parameters, the prior they started from, intervals, LOCO, source."""
    return {
        "form": rm.FORM, "params": result.params, "param_sd": result.sd,
        "param_sd_note": "log-sd for scales and powers, absolute sd (s, s/B) for host terms",
        "prior": {"profile": prior.profile, "provenance": prior.provenance, "idle0_w": prior.idle0_w,
                  "mean": prior.mean, "sd": prior.sd},
        "interval": interval, "loco": loco,
        "fit": {"method": "MAP (ridge towards the prior) with scipy least_squares; Laplace covariance",
                "sigma_model_log": SIGMA_MODEL, "cost": result.cost, "configurations": source["configurations"]},
        "source": source,
    }


def _fitted_profile(base: Profile, name: str, prior: Prior, has_time: bool, runs_model: dict) -> Profile:
    """The prior profile with entries replaced: marked as fitted to the runs and carrying ``runs_model``."""
    source = runs_model["source"]
    meter = MeterEntry(MEASURED_RUNS, source["devices"][0], runs_meters=source["meters"],
                       power_source=f"fitted to {source['runs']} measured runs in {source['path']} "
                                    f"(prior {prior.profile}, {prior.provenance})")
    sources = [*base.data.get("sources", []), {
        "figure": "runs-model parameters", "value": f"{source['runs']} runs, {source['configurations']} configurations",
        "source": f"fitted to measured whole training runs: {source['path']} (sha256 {source['sha256'][:12]})"}]
    return base.replaced(
        name=name, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"), provenance=MEASURED_RUNS,
        time_provenance=MEASURED_RUNS if has_time else base.data.get("time_provenance", prior.provenance),
        energy_basis="total", idle_power_w=runs_model["params"]["idle_w"], runs_model=runs_model,
        meter=meter.to_dict(), sources=sources)


