"""Calibration profiles: the versioned JSON documents that price ops on one device.

Where profiles live: the user's profile directory (``platformdirs`` data dir, or
``$GREEN_ESTIMATE_HOME/profiles`` — tests and CI set it), the package's shipped profiles, and
datasheet profiles computed from vendor figures. See ``docs/profile-format.md``.
"""
from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from green_estimate.errors import ProfileError

SCHEMA = "green-estimate/profile@1"
TARGETS = ("time_s", "energy_j")
STEP_FORM = "incontext@1"  # the step model that calibration writes (see calibration/step_fit.py)


def home_dir() -> Path:
    """The user's green-estimate directory (``$GREEN_ESTIMATE_HOME`` overrides platformdirs)."""
    env = os.environ.get("GREEN_ESTIMATE_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("green-estimate", appauthor=False))


def profiles_dir() -> Path:
    return home_dir() / "profiles"


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
    def from_dict(cls, d: dict) -> "ClassModel":
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
        return {"form": "linear", "features": self.features, "params": self.params, "cov": self.cov,
                "resid_rel_sd": self.resid_rel_sd, "df_resid": self.df_resid}

    def price(self, ops: list) -> tuple[float, float]:
        """The mean cost of ``ops`` (``x = Σ features``, mean ``β·x``) and its variance from the
        coefficients' covariance (``xᵀΣx``)."""
        from green_estimate.features import feature_vector

        x = feature_vector(ops, self.features)
        mean = sum(p * xi for p, xi in zip(self.params, x))
        n = len(x)
        var = sum(x[i] * self.cov[i][j] * x[j] for i in range(n) for j in range(n))
        return mean, max(var, 0.0)


@dataclass
class Profile:
    """A parsed profile: metadata plus one :class:`ClassModel` per class and target."""

    data: dict
    origin: str = ""  # "shipped", "local", "datasheet" or a path
    models: dict[str, dict[str, ClassModel]] = field(default_factory=dict)
    # this profile carried to this CPU, and the notes saying so (see transfer.py): set once, reused
    carried: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict, origin: str = "") -> "Profile":
        if data.get("schema") != SCHEMA:
            raise ProfileError(
                f"not a green-estimate profile (schema {data.get('schema')!r}, expected {SCHEMA!r}): "
                "give a file written by `green-estimate calibrate`"
            )
        check_profile_types(data, origin)
        try:
            models = {
                cls_name: {t: ClassModel.from_dict(entry[t]) for t in TARGETS}
                for cls_name, entry in data["classes"].items()
            }
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileError(f"profile {data.get('name', '?')} is damaged ({type(e).__name__}: {e}): recalibrate") from e
        if not models:
            raise ProfileError(f"profile {data.get('name', '?')} has no classes: recalibrate")
        step = data.get("step_model")
        if step is not None and step.get("form") != STEP_FORM:
            raise ProfileError(f"profile {data.get('name', '?')} was made by an older green-estimate (microbenchmarks, "
                               "no in-context step model): recalibrate with `green-estimate calibrate --cpu`")
        runs = data.get("runs_model")
        if runs is not None and runs.get("form") != "runs@1":
            raise ProfileError(f"profile {data.get('name', '?')} has a runs model of form {runs.get('form')!r}: "
                               "upgrade green-estimate to read it")
        default = data.get("default_class", "elementwise")
        if default not in models:
            default = next(iter(models))
        data["default_class"] = default
        return cls(data=data, origin=origin, models=models)

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
    def device_name(self) -> str:
        return str(self.data.get("device", {}).get("name", "unknown device"))

    def model_for(self, cls_name: str, target: str) -> tuple[ClassModel, str]:
        """The model pricing ``cls_name`` and the class actually used (the default when missing)."""
        if cls_name in self.models:
            return self.models[cls_name][target], cls_name
        d = self.data["default_class"]
        return self.models[d][target], d

    def summary(self) -> dict:
        return {"name": self.name, "device": self.device_name, "meter": self.data.get("meter", {}).get("name", ""),
                "precision": self.precision,
                "provenance": self.provenance, "time_provenance": self.data.get("time_provenance", ""),
                "origin": self.origin, "created_utc": self.data.get("created_utc", ""), "source": self.source}

    @property
    def source(self) -> str:
        """What the profile was made from, in words (the runs file of a ``measured-runs`` profile)."""
        src = self.data.get("runs_model", {}).get("source")
        if src:
            cited = "; ".join(src.get("cited", []))
            return (f"{src.get('description', 'measured runs')}: {src.get('path')} ({src.get('runs')} runs, "
                    f"{src.get('configurations')} configurations{', ' + cited if cited else ''})")
        if self.data.get("provenance") == "datasheet":
            return "vendor figures and stated assumptions (docs/datasheet.md)"
        step = self.data.get("step_model")
        return f"calibrated in context ({step.get('n_samples', '?')} networks)" if step else ""


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


def read_profile(path: Path, origin: str = "") -> Profile:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"profile file {path} does not exist: list profiles with `green-estimate profiles`") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"profile file {path} is not valid JSON (line {e.lineno}): recalibrate or restore it") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"cannot read profile {path} ({type(e).__name__}: {e}): give a profile .json file") from e
    if not isinstance(data, dict):
        raise ProfileError(f"{path} is not a green-estimate profile (a JSON object is expected): recalibrate")
    check_profile_types(data, str(path))  # names the file, whatever origin the caller labels it with
    return Profile.from_dict(data, origin=origin or str(path))


def write_profile(data: dict, path: Path) -> Path:
    """Write a profile atomically (a crash leaves the old file or the new one, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    return path


def _shipped_paths() -> list[Path]:
    root = resources.files("green_estimate") / "data" / "profiles"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".json"))  # type: ignore[attr-defined]


def shipped_profiles() -> list[Profile]:
    return [read_profile(p, origin="shipped") for p in _shipped_paths()]


def local_profiles() -> list[Profile]:
    d = profiles_dir()
    if not d.exists():
        return []
    out = []
    for p in sorted(d.glob("*.json")):
        try:
            out.append(read_profile(p, origin="local"))
        except ProfileError:
            continue  # a damaged local file must not hide the others; `profiles` reports it
    return out


def load_profile(ref: str) -> Profile:
    """A profile by path, by name (local, then shipped), or ``datasheet:<gpu>``.

    Raises:
        ProfileError: nothing matches; the message lists what exists.
    """
    p = Path(ref)
    if p.suffix == ".json" or p.exists():
        return read_profile(p)
    if ref.startswith("datasheet:"):
        from green_estimate.datasheet import datasheet_profile_by_name

        return Profile.from_dict(datasheet_profile_by_name(ref), origin="datasheet")
    for prof in local_profiles() + shipped_profiles():
        if prof.name == ref:
            return prof
    try:
        from green_estimate.datasheet import datasheet_profile, load_gpus

        if ref in load_gpus():
            return Profile.from_dict(datasheet_profile(ref), origin="datasheet")
    except ImportError:
        pass
    names = [x.name for x in local_profiles() + shipped_profiles()]
    raise ProfileError(
        f"no profile named {ref!r}: known profiles are {', '.join(names) or 'none'} (and datasheet:<gpu>); "
        "see `green-estimate profiles`, or give a path to a .json file"
    )


def cpu_fingerprint() -> dict[str, Any]:
    """What identifies this CPU for choosing a local profile: model name and threads used."""
    import torch

    from green_estimate.meters.estimate import cpu_model_name

    model = cpu_model_name(default=platform.processor() or platform.machine())
    return {"kind": "cpu", "cpu_model": model, "threads": torch.get_num_threads(), "machine": platform.machine()}


def _gpu_name(device: str | None) -> str | None:
    """The name of the GPU ``device`` names (``cuda:N``), or of GPU 0 when ``device`` is None."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        index = int(device.split(":")[1]) if device and ":" in device else 0
        return torch.cuda.get_device_name(index)
    except Exception:  # noqa: BLE001 - no usable CUDA means no GPU profile to look for
        return None


def local_profile_for(device: str | None = None, precision: str | None = None) -> Profile | None:
    """A profile calibrated on this very device (a GPU of that name; this CPU model at this thread
    count), from the user's profile directory; ``None`` when this device was never calibrated.
    With ``precision``, only a profile of that training precision (fp32, bf16, ...) is taken."""
    name = _gpu_name(device) if device != "cpu" else None
    candidates = [p for p in local_profiles() if precision is None or p.precision == precision]
    if name:
        for prof in candidates:
            dev = prof.data.get("device", {})
            if dev.get("kind") == "gpu" and dev.get("fingerprint", {}).get("gpu_name") == name:
                return prof
        if device is not None and device.startswith("cuda"):
            return None  # a GPU was asked for: a CPU profile is not this device's
    fp = cpu_fingerprint()
    for prof in candidates:
        dev = prof.data.get("device", {})
        if dev.get("kind") == "cpu" and dev.get("fingerprint", {}).get("cpu_model") == fp["cpu_model"] \
                and dev.get("fingerprint", {}).get("threads") == fp["threads"]:
            return prof
    return None


def default_profile(device: str | None = None, precision: str | None = None) -> Profile:
    """The profile for this machine when none is named.

    For a GPU (``device="cuda:N"``, or any visible GPU when ``device`` is None): a local profile
    calibrated on a GPU of that name, else (only when a GPU was asked for) its datasheet profile.
    Otherwise this CPU's local profile (same CPU model and threads), else the shipped reference
    (which ``predict`` carries to this CPU with the device probe, see :mod:`green_estimate.transfer`).
    ``precision``: prefer a local profile calibrated at that precision.
    """
    local = local_profile_for(device, precision) or local_profile_for(device)
    if local is not None:
        return local
    if device != "cpu":
        name = _gpu_name(device)
        if name:
            if device is not None and device.startswith("cuda"):
                from green_estimate.datasheet import datasheet_profile, match_gpu

                spec = match_gpu(name)
                if spec is None:
                    raise ProfileError(f"no profile for {name}: run `green-estimate calibrate --gpu "
                                       f"{device.split(':')[1]}` or pass --profile")
                return Profile.from_dict(datasheet_profile(spec.key), origin="datasheet")
    shipped = [p for p in shipped_profiles() if p.data.get("device", {}).get("kind") == "cpu"]
    if not shipped:
        raise ProfileError("no profile available: run `green-estimate calibrate --cpu --quick` or pass --profile")
    return shipped[0]


def list_all_profiles() -> list[dict]:
    """Every profile this tool can use: local, shipped and datasheet, with provenance."""
    rows = []
    for origin, profs in (("local", local_profiles()), ("shipped", shipped_profiles())):
        for p in profs:
            rows.append({**p.summary(), "origin": origin, "classes": sorted(p.models)})
    try:
        from green_estimate.datasheet import list_datasheet_profiles

        for d in list_datasheet_profiles():
            rows.append({"name": d["name"], "device": d["device"], "meter": "datasheet", "provenance": "datasheet",
                         "time_provenance": "datasheet", "origin": "datasheet", "created_utc": "", "classes": [],
                         "source": "vendor figures and stated assumptions (docs/datasheet.md)"})
    except ImportError:  # pragma: no cover - datasheet data ships with the package
        pass
    return rows
