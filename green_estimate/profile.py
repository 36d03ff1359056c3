"""Calibration profiles as types: what prices the ops of a step on one device.

A profile is a versioned JSON document (``docs/profile-format.md``); :class:`Profile` is its typed
view. It owns everything that prices: a :class:`ClassModel` per layer class and target (time,
energy), the in-context :class:`StepModel` of a calibrated profile (op-time scales per scale group,
the harness terms, power, intervals) and the :class:`HarnessCost` it gives one step. Calibration and
prediction both price through these types. The JSON is kept as it was read (``Profile.data``) and
never changed: every constructor returns a new object. The models themselves are
:mod:`green_estimate.price_models`. Building a document from typed parts is
:mod:`green_estimate.profile_document`; finding, reading and writing profiles is
:mod:`green_estimate.profile_store`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from green_estimate.errors import ProfileError
from green_estimate.fingerprint import describe_cpu
from green_estimate.price_models import ClassModel, StepModel

SCHEMA = "green-estimate/profile@1"
TARGETS = ("time_s", "energy_j")


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
    def count_revision(self) -> int:
        """The counter revision its samples were counted by (:data:`green_estimate.counting.COUNT_REVISION`;
        1 for a profile that does not record it)."""
        return int(self.data.get("count_revision", 1))

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
                "origin": self.origin, "created_utc": self.data.get("created_utc", ""), "source": self.source,
                **({"suite_networks": self.data["suite_networks"]} if self.data.get("suite_networks") else {})}

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
        if not step:
            return ""
        ref = step.interval.get("reference") or {}
        errs = (ref.get("median_ape") or {}).get("time_s")
        tested = f"; {len(ref.get('names', []))} reference architectures, never fitted: median error {errs:.1%}" if errs is not None else ""
        return f"calibrated in context ({step.n_samples if step.n_samples is not None else '?'} networks{tested})"


# The type of each key a profile may have today (``None``: any JSON). Unknown keys are allowed (newer
# writers add some); each known one must have its type, or a hand edit would surface as an
# AttributeError deep in pricing. Extend these tables when a key is added.
_TOP_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "device": (dict,), "meter": (dict,), "provenance": (str,), "time_provenance": (str,),
    "classes": (dict,), "default_class": (str,), "created_utc": (str,), "energy_basis": (str,),
    "step_overhead": (dict,), "step_model": (dict,), "runs_model": (dict,), "suite_networks": (dict,),
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
