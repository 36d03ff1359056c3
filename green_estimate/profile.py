"""Calibration profiles as types: what prices the ops of a step on one device.

A profile is a versioned JSON document (``docs/profile-format.md``); :class:`Profile` is its typed
view. It owns everything that prices: a :class:`ClassModel` per layer class and target (time,
energy), the in-context :class:`StepModel` of a calibrated profile (op-time scales per scale group,
the harness terms, power, intervals) and the :class:`HarnessCost` it gives one step. Calibration and
prediction both price through these types. The JSON is kept as it was read (``Profile.data``) and
never changed: every constructor returns a new object. Building a document from typed parts is
:mod:`green_estimate.profile_document`; finding, reading and writing profiles is
:mod:`green_estimate.profile_store`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from green_estimate.errors import ProfileError
from green_estimate.fingerprint import describe_cpu

SCHEMA = "green-estimate/profile@1"
TARGETS = ("time_s", "energy_j")
STEP_FORM = "incontext@1"  # the step model that calibration writes (see calibration/step_fit.py)


@dataclass(frozen=True)
class ClassModel:
    """A linear model of one target (time or energy) of one layer class's ops.

    ``prediction = params · Σ_ops features(op)``; see docs/profile-format.md for the interval maths.
    """

    features: list[str]
    params: list[float]
    cov: list[list[float]]
    resid_rel_sd: float
    df_resid: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassModel:
        if d.get("form", "linear") != "linear":
            raise ProfileError(f"unknown model form {d.get('form')!r}: upgrade green-estimate to read this profile")
        n = len(d["features"])
        if len(d["params"]) != n or len(d["cov"]) != n:
            raise ProfileError("a class model's params/cov do not match its features: recalibrate")
        from green_estimate.features import FEATURES

        unknown = [f for f in d["features"] if f not in FEATURES]
        if unknown:
            raise ProfileError(f"a class model uses features this green-estimate does not know ({', '.join(unknown)}): "
                               "upgrade green-estimate or recalibrate")
        return cls(list(d["features"]), [float(p) for p in d["params"]], [[float(c) for c in row] for row in d["cov"]],
                   float(d["resid_rel_sd"]), int(d["df_resid"]))

    def to_dict(self) -> dict:
        return {"form": "linear", "features": list(self.features), "params": list(self.params),
                "cov": [list(row) for row in self.cov], "resid_rel_sd": self.resid_rel_sd, "df_resid": self.df_resid}

    def times(self, factor: float) -> ClassModel:
        """This model with every coefficient multiplied by ``factor`` (and its covariance by ``factor²``)."""
        return ClassModel(self.features, [p * factor for p in self.params],
                          [[c * factor * factor for c in row] for row in self.cov], self.resid_rel_sd, self.df_resid)

    def mean(self, ops: list, params: list[float] | None = None) -> float:
        """The mean cost of ``ops``; ``params`` overrides the coefficients (calibration's refits)."""
        return self.means(ops, params, (None,))[0]

    def means(self, ops: list, params: list[float] | None, terms_seq: Iterable[str | None]) -> list[float]:
        """:meth:`mean` for each ``terms`` of ``terms_seq``, summing the ops' features once: each keeps
        only some terms (``None`` all; ``"fixed"``, ``"var"``, ``"flops"``: see
        :func:`~green_estimate.counting.regions.scale_parts`)."""
        from green_estimate.features import model_means

        return model_means({"features": self.features, "params": self.params}, ops, params, terms_seq)

    def price(self, ops: list) -> tuple[float, float]:
        """The mean cost of ``ops`` (``x = Σ features``, mean ``β·x``) and its variance from the
        coefficients' covariance (``xᵀΣx``)."""
        return self.price_terms(ops, (None,))[0]

    def price_terms(self, ops: list, terms_seq: Iterable[str | None]) -> list[tuple[float, float]]:
        """:meth:`price` for each ``terms`` of ``terms_seq`` (as in :meth:`means`; the other terms' x are
        0), summing the ops' features once."""
        from green_estimate.counting.regions import in_terms
        from green_estimate.features import feature_vector

        x_all = feature_vector(ops, self.features)
        n = len(x_all)
        out = []
        for terms in terms_seq:
            x = [xi if in_terms(f, terms) else 0.0 for f, xi in zip(self.features, x_all)]
            mean = sum(p * xi for p, xi in zip(self.params, x))
            var = sum(x[i] * self.cov[i][j] * x[j] for i in range(n) for j in range(n))
            out.append((mean, max(var, 0.0)))
        return out


@dataclass(frozen=True)
class HarnessCost:
    """The work of one step between its ops (module calls, autograd, the optimizer's Python loop)."""

    time_s: float
    energy_j: float


@dataclass(frozen=True)
class StepModel:
    """The in-context step model of a calibrated profile (form ``incontext@1``, calibration/step_fit.py).

    ``time_s = Σ_groups scale_g · op_time_g + const + dispatch · dispatches + param_tensor · param_tensors
    + fresh · fresh_bytes``; the harness (the terms after the scales) draws the power ``rest_w``.

    Attributes:
        terms: coefficient of each step feature (``op_time_s``, ..., ``const``, ``dispatches``,
            ``param_tensors``).
        power_w: per-class power and ``rest_w``, as fitted.
        interval: the leave-one-family-out errors (``abs_log_err`` per target, ``local`` by make-up).
        n_samples: calibration networks behind the fit.
    """

    terms: dict[str, float]
    power_w: Mapping[str, Any]
    interval: Mapping[str, Any]
    n_samples: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "?") -> StepModel:
        if d.get("form") != STEP_FORM:
            raise ProfileError(f"profile {name} was made by an older green-estimate (microbenchmarks, "
                               "no in-context step model): recalibrate with `green-estimate calibrate --cpu`")
        try:
            terms = dict(zip(d["features"], d["time_s"]["params"]))
            return cls(terms, d["power_w"], d["interval"], d.get("n_samples"))
        except (KeyError, TypeError) as e:
            raise ProfileError(f"profile {name} has a damaged step model ({type(e).__name__}: {e}): recalibrate") from e

    @property
    def split_by_class(self) -> bool:
        """Whether this profile scales a recurrent region's linear and other ops (made before its
        terms were split: it has none of the recurrent groups of
        :data:`~green_estimate.counting.regions.SCALE_GROUPS`)."""
        from green_estimate.counting.regions import SCALE_GROUPS

        return not any(f"{g}_time_s" in self.terms for g in SCALE_GROUPS if g.startswith(("rnn_", "lstm_")))

    def scale(self, group: str) -> float:
        """The in-step factor of op time of one scale group (``op``, ``rnn_var``, ``lstm_flops``, ...)."""
        from green_estimate.counting.regions import SCALE_FALLBACK

        return self.terms.get(f"{group}_time_s", self.terms.get(f"{SCALE_FALLBACK.get(group, group)}_time_s", 1.0))

    @property
    def rest_w(self) -> float:
        """The power drawn between ops (and by classes without a power of their own), W."""
        return self.power_w["rest_w"]

    def harness(self, dispatches: int, param_tensors: int, ops: Iterable[Any] = ()) -> HarnessCost:
        """The harness of a step of ``dispatches`` aten calls over ``param_tensors`` parameter tensors; its
        ``ops`` give the fresh-page term (new tensors of 32 MiB or more, unmapped between ops)."""
        t = self.terms["const"] + self.terms["dispatches"] * dispatches + self.terms["param_tensors"] * param_tensors
        if self.terms.get("fresh_bytes"):  # profiles before it have no such term
            from green_estimate.features import fresh_bytes

            t += self.terms["fresh_bytes"] * fresh_bytes(ops)
        return HarnessCost(time_s=t, energy_j=self.rest_w * t)

    def abs_log_err(self, target: str) -> list[float]:
        """The absolute log errors of whole steps of unseen families, for ``time_s`` or ``energy_j``."""
        return self.interval[target]["abs_log_err"]

    def interval_basis(self, confidence: float) -> dict:
        """Where the interval comes from, and how often such intervals covered unseen families."""
        iv = self.interval
        local = iv.get("local")
        covers = local["coverage_unseen_family"] if local else {t: iv[t]["coverage_unseen_family"] for t in ("time_s", "energy_j")}
        cover = covers["time_s"]
        key = min(cover, key=lambda k: abs(float(k) - confidence)) if cover else None
        method = iv["method"] + (", errors of networks made up like this step" if local else "")
        return {"method": method, "families": iv["families"], "networks": iv["n"],
                "coverage_unseen_family": None if key is None else {"confidence": float(key), "time_s": cover[key],
                                                                    "energy_j": covers["energy_j"][key]}}


def _scaled_model(model: dict, factors: list[float]) -> dict:
    return {**model, "params": [p * f for p, f in zip(model["params"], factors)],
            "cov": [[c * factors[i] * factors[j] for j, c in enumerate(row)] for i, row in enumerate(model["cov"])]}


@dataclass
class Profile:
    """A parsed profile: its JSON (``data``, never changed), a :class:`ClassModel` per class and target,
    and the :class:`StepModel` of a calibrated profile (None for datasheet and runs-only ones)."""

    data: Mapping[str, Any]
    origin: str = ""  # "shipped", "local", "datasheet" or a path
    models: dict[str, dict[str, ClassModel]] = field(default_factory=dict)
    step: StepModel | None = None
    default_class: str = "elementwise"  # the class that prices classes without a model of their own
    # this profile carried to this CPU, and the notes saying so (see transfer.py): set once, reused
    carried: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "") -> Profile:
        """Parse and check a profile document; ``data`` is kept as it is (not copied, not changed)."""
        if data.get("schema") != SCHEMA:
            raise ProfileError(
                f"not a green-estimate profile (schema {data.get('schema')!r}, expected {SCHEMA!r}): "
                "give a file written by `green-estimate calibrate`"
            )
        check_profile_types(data, origin)
        name = data.get("name", "?")
        try:
            models = {
                cls_name: {t: ClassModel.from_dict(entry[t]) for t in TARGETS}
                for cls_name, entry in data["classes"].items()
            }
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileError(f"profile {name} is damaged ({type(e).__name__}: {e}): recalibrate") from e
        if not models:
            raise ProfileError(f"profile {name} has no classes: recalibrate")
        step = data.get("step_model")
        runs = data.get("runs_model")
        if runs is not None and runs.get("form") != "runs@1":
            raise ProfileError(f"profile {name} has a runs model of form {runs.get('form')!r}: "
                               "upgrade green-estimate to read it")
        default = data.get("default_class", "elementwise")
        if default not in models:
            default = next(iter(models))
        return cls(data=data, origin=origin, models=models, step=None if step is None else StepModel.from_dict(step, name),
                   default_class=default)

    def replaced(self, **entries: Any) -> Profile:
        """A new profile whose document has these top-level ``entries`` (``None`` removes one)."""
        data = {**self.data, **entries}  # a replaced key keeps its place
        data = {k: v for k, v in data.items() if not (k in entries and v is None)}
        return Profile.from_dict(data, origin=self.origin)

    def rescaled(self, class_factor: Callable[[str, str], float], step_factor: Callable[[str], float]) -> Profile:
        """A new profile with each class-model coefficient (and its covariance) multiplied by
        ``class_factor(layer_class, feature)`` and each step-model coefficient by ``step_factor(feature)``."""
        data = copy.deepcopy(dict(self.data))
        for cls, entry in data["classes"].items():
            for target in TARGETS:
                entry[target] = _scaled_model(entry[target], [class_factor(cls, f) for f in entry[target]["features"]])
        step = data["step_model"]
        step["time_s"]["params"] = [p * step_factor(f) for p, f in zip(step["time_s"]["params"], step["features"])]
        return Profile.from_dict(data, origin=self.origin)

    @property
    def name(self) -> str:
        return str(self.data.get("name", "unnamed"))

    @property
    def provenance(self) -> str:
        return str(self.data.get("provenance", "estimated"))

    @property
    def precision(self) -> str:
        """The training precision this profile prices: fp32, tf32, bf16 or fp16 (older profiles: from ``dtype``)."""
        if self.data.get("precision"):
            return str(self.data["precision"])
        dtype = str(self.data.get("dtype", "float32")).replace("torch.", "")
        if dtype in ("float32", "float"):
            return "tf32" if self.data.get("allow_tf32") else "fp32"
        return {"bfloat16": "bf16", "float16": "fp16", "half": "fp16"}.get(dtype, dtype)

    @property
    def device(self) -> Mapping[str, Any]:
        """``name``, ``kind`` (``cpu``/``gpu``) and ``fingerprint`` of the device that made the profile."""
        return self.data.get("device", {})

    @property
    def device_name(self) -> str:
        return str(self.device.get("name", "unknown device"))

    @property
    def made_on(self) -> str:
        """The device that made the profile, in words: a CPU by what tells it from others of its name
        (:func:`~green_estimate.fingerprint.describe_cpu`), any other device by its name."""
        fp = self.device.get("fingerprint") or {}
        return describe_cpu(fp) if self.device.get("kind") == "cpu" and fp.get("cpu_model") else self.device_name

    @property
    def is_gpu(self) -> bool:
        return self.device.get("kind") == "gpu"

    @property
    def runs_model(self) -> Mapping[str, Any] | None:
        """The ``runs@1`` model of a profile fitted to measured runs (green_estimate/runs/model.py), or None."""
        return self.data.get("runs_model")

    @property
    def transfer(self) -> Mapping[str, Any] | None:
        """What carrying the profile to this CPU did (green_estimate/transfer.py), or None."""
        return self.data.get("transfer")

    @property
    def transfer_log_error(self) -> float:
        """How much (in log) carrying the profile here widens its intervals; 0 when it was not carried."""
        return float((self.transfer or {}).get("log_error", 0.0))

    @property
    def idle_power_w(self) -> float | None:
        """The device's measured (or datasheet) idle draw, if the profile has one."""
        v = self.data.get("idle_power_w")
        return None if v is None else float(v)

    @property
    def datasheet_wait_power_w(self) -> float | None:
        """A datasheet GPU's draw while it waits for a collective, if the profile has one."""
        v = (self.data.get("datasheet") or {}).get("wait_power_w")
        return None if v is None else float(v)

    @property
    def probe(self) -> Mapping[str, Any] | None:
        """The device probe of the machine that made a calibrated CPU profile (green_estimate/device_probe.py)."""
        return self.data.get("probe")

    @property
    def datasheet_gpu(self) -> str | None:
        """The GPU key of a datasheet profile (``h100-sxm``), None for others."""
        return (self.data.get("datasheet") or {}).get("gpu")

    @property
    def energy_basis(self) -> str:
        return str(self.data.get("energy_basis", "total"))

    def model_for(self, cls_name: str, target: str) -> tuple[ClassModel, str]:
        """The model pricing ``cls_name`` and the class actually used (the default when missing)."""
        if cls_name in self.models:
            return self.models[cls_name][target], cls_name
        return self.models[self.default_class][target], self.default_class

    def summary(self) -> dict:
        return {"name": self.name, "device": self.device_name, "meter": self.data.get("meter", {}).get("name", ""),
                "precision": self.precision,
                "provenance": self.provenance, "time_provenance": self.data.get("time_provenance", ""),
                "origin": self.origin, "created_utc": self.data.get("created_utc", ""), "source": self.source}

    @property
    def source(self) -> str:
        """What the profile was made from, in words (the runs file of a ``measured-runs`` profile)."""
        src = (self.runs_model or {}).get("source")
        if src:
            cited = "; ".join(src.get("cited", []))
            return (f"{src.get('description', 'measured runs')}: {src.get('path')} ({src.get('runs')} runs, "
                    f"{src.get('configurations')} configurations{', ' + cited if cited else ''})")
        if self.data.get("provenance") == "datasheet":
            return "vendor figures and stated assumptions (docs/datasheet.md)"
        step = self.step
        return f"calibrated in context ({step.n_samples if step.n_samples is not None else '?'} networks)" if step else ""


# The type of each key a profile may have today (``None``: any JSON). Unknown keys are allowed (newer
# writers add some); each known one must have its type, or a hand edit would surface as an
# AttributeError deep in pricing. Extend these tables when a key is added.
_TOP_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "device": (dict,), "meter": (dict,), "provenance": (str,), "time_provenance": (str,),
    "classes": (dict,), "default_class": (str,), "created_utc": (str,), "energy_basis": (str,),
    "step_overhead": (dict,), "step_model": (dict,), "runs_model": (dict,),
}
_DICT_STR_KEYS = {"device": ("name", "kind"), "meter": ("name",)}
_CLASS_MODEL_TYPES: dict[str, tuple[type, ...]] = {
    "features": (list,), "params": (list,), "cov": (list,), "resid_rel_sd": (int, float), "df_resid": (int,),
    "form": (str,),
}


def check_profile_types(data: dict, where: str = "") -> None:
    """Check the types of a profile's known keys, naming the file and key of the first wrong one.

    Unknown keys pass: a newer green-estimate may have written them.

    Raises:
        ProfileError: a known key has a value of the wrong type (a string where an object belongs...).
    """
    label = f"profile {where or data.get('name', '?')}"

    def bad(key: str, value: Any, want: str) -> ProfileError:
        return ProfileError(f"{label}: {key} must be {want}, not {type(value).__name__} {value!r:.60}: "
                            "restore the file or recalibrate")

    def is_a(value: Any, types: tuple[type, ...]) -> bool:
        return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)

    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}
    for key, types in _TOP_TYPES.items():
        if key in data and not is_a(data[key], types):
            raise bad(key, data[key], names[types[-1]])
    for key, subkeys in _DICT_STR_KEYS.items():
        for sub in subkeys:
            value = data.get(key, {}).get(sub)
            if value is not None and not isinstance(value, str):
                raise bad(f"{key}.{sub}", value, "a string")
    fingerprint = data.get("device", {}).get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, dict):
        raise bad("device.fingerprint", fingerprint, "an object")
    for cls_name, entry in data.get("classes", {}).items():
        if not isinstance(entry, dict):
            raise bad(f"classes.{cls_name}", entry, "an object with time_s and energy_j")
        for target in TARGETS:
            model = entry.get(target)
            if not isinstance(model, dict):
                raise bad(f"classes.{cls_name}.{target}", model, "an object (a fitted model)")
            for key, types in _CLASS_MODEL_TYPES.items():
                if key in model and not is_a(model[key], types):
                    raise bad(f"classes.{cls_name}.{target}.{key}", model[key], names[types[-1]])
            for key in ("params", "cov"):
                flat = [v for row in model.get(key, []) for v in (row if isinstance(row, list) else [row])]
                if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in flat):
                    raise bad(f"classes.{cls_name}.{target}.{key}", model[key], "numbers")
