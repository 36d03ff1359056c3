"""Whole steps: the work between ops, the power of each class, and intervals that hold for unseen models.

Op models (:mod:`~green_estimate.calibration.fit`) price what the profiler saw inside ops. A step
also holds the Python work between them — module calls, the autograd engine, the optimizer's loop
over parameters — and the profiler's own cost per op. The step model, fitted on the *unprofiled*
step times of the calibration networks (robust, on relative errors, every coefficient bounded at
zero: :func:`fit_step`), is

    time_s = a · Σ_ops op_time + Σ_groups a_g · Σ_(its ops) op_time + b + c · dispatches + d · param_tensors

with a scale per group of fused regions' ops (:data:`~green_estimate.counting.regions.SCALE_GROUPS`:
attention; of a GRU's ops, the per-op terms of their priced time and the rest; of an LSTM's, the
FLOP terms alone).
``dispatches`` counts every aten call, free views included. Energy: every class draws its own power
while it runs,

    energy_j = Σ_c power_c · time_c + power_rest · (time between ops)

fitted on the steps' measured energy (with the estimate meter every power is its stated watts).

Intervals come from cross-validation that leaves **whole architecture families** out of the op
models: every family of the generator is predicted by op models fitted without it (and a step model
fitted without the predicted network — the in-step scale of a fused region, such as a GRU's, can
only be learned from networks that have one), and the absolute log errors of those predictions are
stored in the profile, each with its network's make-up (shares of op time per class): an interval
at confidence ``c`` is the point estimate × exp(±q_c), with q_c the c-quantile of the errors of
networks made up like the predicted step (:mod:`green_estimate.intervals`). The coverage reported
is nested: each network's interval is taken from the *other* families' errors.
"""
from __future__ import annotations

import math
from typing import Any

from green_estimate.calibration.fit import Fit, Row, refit_params, wls
from green_estimate.calibration.incontext import op_record
from green_estimate.counting.regions import SCALE_GROUPS, scale_parts
from green_estimate.features import fresh_bytes
from green_estimate.intervals import FUSED, local_block, make_up, reference_block

STEP_FEATURES = tuple(f"{g}_time_s" for g in SCALE_GROUPS) + ("const", "dispatches", "param_tensors", "fresh_bytes")
N_SCALES = len(SCALE_GROUPS)
MIN_POWER_SHARE = 0.05      # classes below this mean share of op time share the "rest" power
LEVELS = (0.5, 0.8, 0.9, 0.95)
Times = dict  # scale group → class → predicted op time (s)


def class_times(sample: dict, classes: dict[str, dict], default: str, params: dict[str, list[float]] | None = None
                ) -> Times:
    """Predicted op time per scale group and class of one network sample (``params`` overrides
    fitted coefficients)."""
    return _times(feature_sums(sample, classes, default), params)


# one network's ops summed per (scale group, class): (group, class, the class whose model prices it,
# that model's features summed over the ops and kept to the group's terms, its fitted coefficients)
Sums = list


def feature_sums(sample: dict, classes: dict[str, dict], default: str) -> Sums:
    """What :func:`class_times` multiplies by the class models' coefficients, summed once: the leave-out
    refits change the coefficients, never the features (summed once, a quick calibration's fit took
    24.4 s instead of 26.4 on a 2-vCPU Xeon, to the same result)."""
    from green_estimate.features import feature_vector, kept_terms

    by_class: dict[str, list] = {}
    for row in sample["ops"]:
        op = op_record(row)
        by_class.setdefault(op.cls, []).append(op)
    out: Sums = []
    for cls, ops in by_class.items():
        used = cls if cls in classes else default
        names = classes[used]["time_s"]["features"]
        for part, groups in scale_parts(ops):
            x = feature_vector(part, names)
            out += [(group, cls, used, kept_terms(names, x, terms), classes[used]["time_s"]["params"])
                    for group, terms in groups]
    return out


def _times(sums: Sums, params: dict[str, list[float]] | None = None) -> Times:
    """:func:`class_times` from a network's :func:`feature_sums` (``params`` overrides fitted coefficients)."""
    out: Times = {g: {} for g in SCALE_GROUPS}
    for group, cls, used, x, fitted in sums:
        p = params.get(used) if params else None
        out[group][cls] = sum(a * xi for a, xi in zip(fitted if p is None else p, x))
    return out


def structure_features(sample: dict) -> list[float]:
    """The step features no op model changes: const, dispatches, parameter tensors, fresh bytes."""
    st = sample.get("structure", {})
    return [1.0, float(len(sample["ops"]) + st.get("ignored_ops", 0)), float(st.get("param_tensors", 0)),
            fresh_bytes(op_record(row) for row in sample["ops"])]


def step_features(sample: dict, times: Times, structure: list[float] | None = None) -> list[float]:
    """One network's row of :data:`STEP_FEATURES`; ``structure`` is its :func:`structure_features`,
    computed once where the same network is priced by many refits."""
    return [sum(times[g].values()) for g in SCALE_GROUPS] + (structure_features(sample) if structure is None
                                                             else structure)


HUBER_T = 1.345  # Huber's threshold in robust standard deviations (statsmodels' HuberT default)
# A GRU region's two scales (the rest of its priced time, its per-op part) from fewer networks than
# this are one scale: with the scales then split by class, the quick suite's 3 GRUs (before its extra
# recurrent group, suite.toml) split theirs 0.05 / 2.0, and their family's error with the family left
# out fell from 38–75% to 25–39% with the halves tied (five runs' quick samples, 2-vCPU EPYC).
MIN_REGION_NETWORKS = 8
_REGION_HALVES = ((SCALE_GROUPS.index("rnn_var"), SCALE_GROUPS.index("rnn_fixed")),)


def _wls(X: Any, y: Any) -> Any:
    return wls(X, y)  # whole steps: relative error (weights 1/y²)


# On a GPU the op times are its kernels' device times, and one stream runs them one after another:
# a step cannot take less than their sum, so the op-time scale is at least 1. Fitted free on the
# H200's suite (host-bound small networks) it fell to 0.25 and priced four of five large,
# device-bound steps 33–68 % fast; held at ≥ 1, all five 6–49 % slow (docs/performance.md, run H200-c).
GPU_OP_SCALE_FLOOR = 1.0


def fit_step(X: Any, y: Any, op_scale_floor: float = 0.0, fixed: dict[str, float] | None = None
             ) -> tuple[list[float], Fit]:
    """Step coefficients in :data:`STEP_FEATURES` order, and the fit.

    One robust fit with every coefficient bounded at zero: an op's in-step time and the work between
    ops can only add to a step. It minimises Huber's loss of the relative errors (weights ``1/y``),
    its threshold 1.345 robust standard deviations (1.4826 × the median absolute relative error of
    the fit before) — the M-estimator the op models use, with the bounds inside the fit instead of
    dropping or merging terms after it. A scale that the bound holds at zero prices its ops at
    nothing beyond what the other terms carry; a GRU region fewer than :data:`MIN_REGION_NETWORKS`
    networks have gets one scale for both halves. A scale group that no network has is priced at the
    op-time scale; an op-time scale held at zero (no data for it) at 1. ``op_scale_floor`` bounds the
    op-time scale from below (:data:`GPU_OP_SCALE_FLOOR` for a GPU's device times).
    """
    import numpy as np
    from scipy.optimize import least_squares

    X = np.array(X, dtype=float)
    tied = []
    for a, b in _REGION_HALVES:
        if 0 < int(((X[:, a] != 0) | (X[:, b] != 0)).sum()) < MIN_REGION_NETWORKS:
            X[:, a], X[:, b] = X[:, a] + X[:, b], 0.0  # the whole region's time, one scale
            tied.append((a, b))
    held = {STEP_FEATURES.index(f): float(c) for f, c in (fixed or {}).items()}
    used = [j for j in range(X.shape[1]) if (X[:, j] != 0).any() and j not in held]
    A = X[:, used] / y[:, None]  # relative errors: each row divided by its step time
    col = np.abs(A).max(axis=0)
    A = A / col  # unit columns: FLOP-sized and per-step terms in one system
    b = np.ones(len(y)) - sum((X[:, j] * c for j, c in held.items()), np.zeros(len(y))) / y  # what is left to fit
    lo = np.zeros(len(used))
    if op_scale_floor > 0 and 0 in used:
        lo[used.index(0)] = op_scale_floor * col[used.index(0)]  # in the unit columns' scale
    x = least_squares(lambda p: A @ p - b, np.maximum(np.linalg.lstsq(A, b, rcond=None)[0], lo), bounds=(lo, np.inf)).x
    for _ in range(2):  # Huber's threshold from the residuals of the fit before (MAD scale)
        sigma = max(1.4826 * float(np.median(np.abs(A @ x - b))), 1e-9)
        fit = least_squares(lambda p: A @ p - b, x, bounds=(lo, np.inf), loss="huber", f_scale=HUBER_T * sigma)
        x = np.where(fit.active_mask == -1, lo, fit.x)  # held at the bound: exactly the bound
    full = [0.0] * X.shape[1]
    for j, v in zip(used, x / col):
        full[j] = float(v)
    for j, c in held.items():
        full[j] = c
    if full[0] <= 0:  # not physical: price ops as profiled, with the other terms as fitted
        full[0] = 1.0
    for a, b in tied:
        full[b] = full[a]
    for g in range(N_SCALES):
        if g not in used and all(g != b for _, b in tied):
            full[g] = full[0]  # no network had such a region: its ops at the op-time scale
    resid = X @ np.array(full) / y - 1
    scale = float(np.mean(resid**2))
    J = fit.jac
    cov_used = scale * np.linalg.pinv(J.T @ J) / np.outer(col, col)
    cov = np.zeros((X.shape[1], X.shape[1]))
    cov[np.ix_(used, used)] = cov_used
    return full, Fit(np.array(full), cov, scale, len(y) - len(used))


def _scaled(times: Times, params: list[float]) -> dict[str, float]:
    """In-step time per class: each scale group's ops × its scale."""
    out: dict[str, float] = {}
    for g, scale in zip(SCALE_GROUPS, params):
        for k, v in times[g].items():
            out[k] = out.get(k, 0.0) + v * scale
    return out


def _fused_time(times: Times, params: list[float]) -> float:
    """In-step time of the ops of fused regions (every scale group but plain ops)."""
    return sum(v * scale for g, scale in zip(SCALE_GROUPS, params) if g != "op" for v in times[g].values())


def fit_power(samples: list[dict], scaled: list[dict[str, float]], step_time: list[float]) -> dict:
    """Power per class (W) from measured step energies; small classes and the time between ops share one."""
    import numpy as np

    energy = np.array([s["energy_j"] for s in samples], dtype=float)
    shares: dict[str, float] = {}
    for c in scaled:
        tot = sum(c.values()) or 1.0
        for k, v in c.items():
            shares[k] = shares.get(k, 0.0) + v / tot / len(scaled)
    own = sorted(k for k, v in shares.items() if v >= MIN_POWER_SHARE)
    if len(own) > len(samples) - 2:  # a power per class and the rest's need a residual degree of freedom left:
        own = sorted(sorted(own, key=lambda k: -shares[k])[:max(0, len(samples) - 2)])  # the smallest join the rest
    while True:
        cols = [[c.get(k, 0.0) for c in scaled] for k in own]
        # the rest of the step's time, negative where the op models over-price: energy = W × time
        # holds exactly for a meter that draws W whatever runs
        rest = [t - sum(c.get(k, 0.0) for k in own) for c, t in zip(scaled, step_time)]
        X = np.column_stack(cols + [rest])
        res = _wls(X, energy)
        p = np.asarray(res.params)
        bad = [own[i] for i in range(len(own)) if not p[i] > 0]
        if not bad:
            break
        own = [k for k in own if k not in bad]
    rel = (energy - X @ p) / energy
    return {"classes": {k: float(v) for k, v in zip(own, p[:-1])}, "rest_w": float(p[-1]),
            "resid_rel_sd": float(np.std(rel)), "n_samples": len(samples)}


def _predict_energy(scaled: dict[str, float], step_time: float, power: dict) -> float:
    own = power["classes"]
    e = sum(v * own[k] for k, v in scaled.items() if k in own)
    return e + power["rest_w"] * (step_time - sum(v for k, v in scaled.items() if k in own))


def quantile(errors: list[float], level: float) -> float:
    """The conservative empirical ``level``-quantile: the ⌈level·(n+1)⌉-th smallest (the largest when past n)."""
    xs = sorted(errors)
    if not xs:
        return float("inf")
    k = min(len(xs), max(1, math.ceil(level * (len(xs) + 1))))
    return xs[k - 1]


def _family_out_errors(samples: list[dict], classes: dict[str, dict], rows: dict[str, list[Row]], sums: list[Sums],
                       X: Any, y: Any, structure: list[list[float]], op_scale_floor: float = 0.0,
                       fixed: dict[str, float] | None = None) -> tuple[dict[str, list[float]], list[str], list[int]]:
    """Absolute log errors of every network predicted with its family left out of the op models.

    ``sums`` and ``structure`` are each network's :func:`feature_sums` and :func:`structure_features`
    (the same in every refit: only the class models' coefficients change). Returns the
    errors per target (``time_s``, ``energy_j``), each error's family and network index.
    The step model (and power) leave out only the predicted network: its in-step scales of fused
    regions are learned from the other networks that have such regions, its family's included.
    """
    import numpy as np

    fam_of = [s["params"]["family"] for s in samples]
    log_err: dict[str, list[float]] = {"time_s": [], "energy_j": []}
    err_family: list[str] = []
    err_index: list[int] = []
    if len(samples) < int((X != 0).any(axis=0).sum()) + 3:
        return log_err, err_family, err_index  # too few networks to leave any out (for the step terms they have)
    for fam in sorted(set(fam_of)):
        train_nets = {i for i, f in enumerate(fam_of) if f != fam}
        p_cls = {}
        for cls, entry in classes.items():
            p = refit_params([r for r in rows.get(cls, []) if r.network in train_nets], entry["time_s"]["features"],
                             entry["time_s"]["params"])
            p_cls[cls] = p if p is not None else entry["time_s"]["params"]
        ot = [_times(x, p_cls) for x in sums]
        Xf = np.array([step_features(s, c, st) for s, c, st in zip(samples, ot, structure)])
        for i in (i for i, f in enumerate(fam_of) if f == fam):
            rest = [j for j in range(len(samples)) if j != i]
            pf, _ = fit_step(Xf[rest], y[rest], op_scale_floor, fixed)
            sc = [_scaled(c, pf) for c in ot]
            pw = fit_power([samples[j] for j in rest], [sc[j] for j in rest], [float(y[j]) for j in rest])
            t_pred = float(Xf[i] @ np.array(pf))
            e_pred = _predict_energy(sc[i], t_pred, pw)
            log_err["time_s"].append(abs(math.log(max(t_pred, 1e-12) / y[i])))
            log_err["energy_j"].append(abs(math.log(max(e_pred, 1e-12) / samples[i]["energy_j"])))
            err_family.append(fam)
            err_index.append(i)
    return log_err, err_family, err_index


def _interval_summary(log_err: dict[str, list[float]], err_family: list[str], families: list[str]) -> dict[str, Any]:
    """The profile's ``interval`` block: the errors, their nested coverage, median and per-family error."""
    import numpy as np

    interval: dict[str, Any] = {"method": "leave-one-family-out", "families": families, "n": len(err_family)}
    for target, errs in log_err.items():
        cover = {}
        for level in LEVELS:
            inside = [errs[i] <= quantile([e for j, e in enumerate(errs) if err_family[j] != err_family[i]], level)
                      for i in range(len(errs))]
            cover[str(level)] = float(np.mean(inside)) if inside else None
        signed_ape = [math.exp(e) - 1 for e in errs]
        interval[target] = {"abs_log_err": sorted(round(e, 5) for e in errs), "coverage_unseen_family": cover,
                            "median_ape": float(np.median(signed_ape)) if errs else None,
                            "within_15pct": float(np.mean([a <= 0.15 for a in signed_ape])) if errs else None}
    per_family = {}
    for fam in families:
        errs = [math.exp(e) - 1 for e, f in zip(log_err["time_s"], err_family) if f == fam]
        if errs:
            per_family[fam] = {"networks": len(errs), "median_ape": float(np.median(errs))}
    interval["time_s"]["per_family"] = per_family
    return interval


def _reference_errors(refs: list[dict], classes: dict[str, dict], default: str, params: list[float], power: dict,
                      kinds: list[str]) -> tuple[list[str], list[list[float]], dict[str, list[float]], dict]:
    """Each reference sample predicted by the fitted models: names, make-ups, absolute log errors per
    target, and the predicted and measured values."""
    import numpy as np

    from green_estimate.calibration.references import reference_name

    names, shares, err = [], [], {"time_s": [], "energy_j": []}
    seen: dict[str, list[float]] = {"predicted_time_s": [], "time_s": []}
    for s in refs:
        ot = class_times(s, classes, default)
        t_pred = float(np.array(step_features(s, ot)) @ np.array(params))
        sc = _scaled(ot, params)
        e_pred = _predict_energy(sc, t_pred, power)
        names.append(reference_name(s["params"]["seed"]))
        shares.append(make_up(sc, _fused_time(ot, params), kinds))
        err["time_s"].append(abs(math.log(max(t_pred, 1e-12) / s["time_s"])))
        err["energy_j"].append(abs(math.log(max(e_pred, 1e-12) / s["energy_j"])))
        seen["predicted_time_s"].append(t_pred)
        seen["time_s"].append(s["time_s"])
    return names, shares, err, seen


def fit_step_model(samples: list[dict], classes: dict[str, dict], rows: dict[str, list[Row]],
                   default: str, op_scale_floor: float = 0.0, references: list[dict] | None = None,
                   fixed: dict[str, float] | None = None) -> dict:
    """The step model, per-class power and leave-one-family-out intervals from the network samples
    (``op_scale_floor``: :func:`fit_step`'s, in every refit); with ``references`` (samples of
    standard models the fit never saw), their errors, which scale the intervals (split conformal)."""
    import numpy as np

    y = np.array([s["time_s"] for s in samples], dtype=float)
    sums = [feature_sums(s, classes, default) for s in samples]
    op_times = [_times(x) for x in sums]
    structure = [structure_features(s) for s in samples]
    X = np.array([step_features(s, c, st) for s, c, st in zip(samples, op_times, structure)])
    params, res = fit_step(X, y, op_scale_floor, fixed)
    scaled = [_scaled(c, params) for c in op_times]
    power = fit_power(samples, scaled, list(y))
    cov = np.atleast_2d(res.cov_params()).tolist()  # every step feature's (zero where no network has it)

    log_err, err_family, err_index = _family_out_errors(samples, classes, rows, sums, X, y, structure,
                                                        op_scale_floor, fixed)
    interval = _interval_summary(log_err, err_family, sorted({s["params"]["family"] for s in samples}))
    if err_index:
        kinds = sorted({k for c in scaled for k in c} | set(classes)) + [FUSED]
        shares = [make_up(scaled[i], _fused_time(op_times[i], params), kinds) for i in err_index]
        interval["local"] = local_block(kinds, shares, err_family, log_err, LEVELS)
        if references:
            interval["reference"] = reference_block(interval["local"], *_reference_errors(
                references, classes, default, params, power, kinds), LEVELS)
    return {
        "form": "incontext@1", "features": list(STEP_FEATURES), "n_samples": len(samples),
        "time_s": {"params": params, "fit_cov": cov, "resid_rel_sd": float(np.sqrt(res.scale))},
        "power_w": power, "interval": interval,
    }
