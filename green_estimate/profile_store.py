"""Where profiles live and which one prices a prediction: find, read, write and resolve profiles.

The user's profile directory (``platformdirs`` data dir, or ``$GREEN_ESTIMATE_HOME/profiles`` — tests
and CI set it), the package's shipped profiles, and datasheet profiles computed from vendor figures.
The types themselves are in :mod:`green_estimate.profile`; see ``docs/profile-format.md``.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from green_estimate.errors import ProfileError, UsageError
from green_estimate.fingerprint import cpu_fingerprint, describe_cpu, same_cpu
from green_estimate.profile import Profile, check_profile_types


def home_dir() -> Path:
    """The user's green-estimate directory (``$GREEN_ESTIMATE_HOME`` overrides platformdirs)."""
    env = os.environ.get("GREEN_ESTIMATE_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("green-estimate", appauthor=False))


def profiles_dir() -> Path:
    return home_dir() / "profiles"


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


def shipped_cpu_profile() -> Profile | None:
    """The shipped CPU profile (``cpu-reference-2core``): the default on a CPU with no local profile,
    and what a CPU calibration borrows from; ``None`` if the package holds none."""
    return next((p for p in shipped_profiles() if p.device.get("kind") == "cpu"), None)


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


def local_profile_for(device: str | None = None, precision: str | None = None) -> Profile | None:
    """A profile calibrated on this very device (a GPU of that name; this CPU model at this thread
    count), from the user's profile directory; ``None`` when this device was never calibrated.
    With ``precision``, only a profile of that training precision (fp32, bf16, ...) is taken."""
    name = _gpu_name(device) if device != "cpu" else None
    candidates = [p for p in local_profiles() if precision is None or p.precision == precision]
    if name:
        mine = _measured_on_gpu(candidates, name)
        if mine is not None:
            return mine
        if device is not None and device.startswith("cuda"):
            return None  # a GPU was asked for: a CPU profile is not this device's
    fp = cpu_fingerprint()
    for prof in candidates:
        dev = prof.device
        if dev.get("kind") == "cpu" and same_cpu(dev.get("fingerprint", {}), fp):
            return prof
    return None


def _measured_on_gpu(profiles: list[Profile], gpu_name: str) -> Profile | None:
    """The first of ``profiles`` measured on a GPU of this name (``torch.cuda.get_device_name``)."""
    return next((p for p in profiles if p.is_gpu and p.device.get("fingerprint", {}).get("gpu_name") == gpu_name),
                None)


def shipped_profile_for_gpu(gpu_name: str, precision: str | None = None) -> Profile | None:
    """A shipped profile measured on a GPU of this name, at ``precision`` when one is given (a
    profile prices only the precision it was measured at)."""
    return _measured_on_gpu([p for p in shipped_profiles() if precision is None or p.precision == precision],
                            gpu_name)


def default_profile(device: str | None = None, precision: str | None = None) -> Profile:
    """The profile for this machine when none is named.

    For a GPU (``device="cuda:N"``, or any visible GPU when ``device`` is None): a local profile
    calibrated on a GPU of that name, else a shipped profile measured on a GPU of that name at that
    precision, else (only when a GPU was asked for) its datasheet profile.
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
            shipped_gpu = shipped_profile_for_gpu(name, precision)
            if shipped_gpu is not None:
                return shipped_gpu  # measured on a GPU of this name, as a local GPU profile would be
            if device is not None and device.startswith("cuda"):
                from green_estimate.datasheet import datasheet_profile, match_gpu

                spec = match_gpu(name)
                if spec is None:
                    raise ProfileError(f"no profile for {name}: run `green-estimate calibrate --gpu "
                                       f"{device.split(':')[1]}` or pass --profile")
                return Profile.from_dict(datasheet_profile(spec.key), origin="datasheet")
    shipped = shipped_cpu_profile()
    if shipped is None:
        raise ProfileError("no profile available: run `green-estimate calibrate --cpu --quick` or pass --profile")
    return shipped


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


def resolve_profile(profile: str | Profile | None, device: str | None = None, precision: str | None = None) -> Profile:
    """A profile object from a name, path or object; ``None`` picks :func:`default_profile`.

    With ``precision``, a datasheet profile named without a variant (``datasheet:h100-sxm``, or picked
    by default for a GPU) is made for that precision; any other profile is returned as it is, and
    :func:`check_precision_matches` refuses it if it prices another precision.
    """
    if isinstance(profile, Profile):
        return profile
    if precision is not None:
        key = _datasheet_key_without_variant(profile)
        if key is not None:
            from green_estimate.datasheet import datasheet_profile

            return Profile.from_dict(datasheet_profile(key, precision=precision), origin="datasheet")
    prof = default_profile(device, precision) if profile is None else load_profile(profile)
    if precision is not None and profile is None and prof.origin == "datasheet" and prof.precision != precision:
        from green_estimate.datasheet import datasheet_profile

        return Profile.from_dict(datasheet_profile(prof.datasheet_gpu, precision=precision), origin="datasheet")
    return prof


def _datasheet_key_without_variant(ref: str | None) -> str | None:
    """``h100-sxm`` for ``datasheet:h100-sxm`` (no ``:variant``); None for anything else."""
    if not isinstance(ref, str) or not ref.startswith("datasheet:"):
        return None
    key, _, variant = ref[len("datasheet:"):].partition(":")
    return None if variant else key


def check_precision_matches(prof: Profile, precision: str) -> None:
    """Refuse a profile that prices another training precision than the one asked for."""
    if prof.precision == precision:
        return
    if prof.origin == "datasheet":
        how = f"use --profile {prof.name.split(':')[0]}:{prof.datasheet_gpu} (made for the precision asked)"
    else:
        how = f"calibrate one with `green-estimate calibrate --cpu --precision {precision}` (or --gpu N), or pass a datasheet:<gpu> profile"
    raise UsageError(f"profile {prof.name} prices {prof.precision} training, not --precision {precision}: {how}, "
                     f"or predict with --precision {prof.precision}")


def profile_identity(prof: Profile, device: str | None = None) -> dict:
    """Which profile prices predictions for ``device`` (``cpu``/``cuda:N``), and whether it was made there.

    Returns ``{name, device, provenance, origin, other_device, note}``; ``other_device`` is None when it
    cannot be told (no fingerprint to compare), ``note`` a sentence when it is True.
    """
    dev = prof.device
    fp = dev.get("fingerprint", {}) or {}
    other: bool | None = None
    here = None
    try:
        if device and device.startswith("cuda"):
            here = _gpu_name(device)
            if here:
                theirs = fp.get("gpu_name") or dev.get("name")
                other = dev.get("kind") != "gpu" or theirs != here
        else:
            mine = cpu_fingerprint()
            here = describe_cpu(mine)
            other = dev.get("kind") != "cpu" or not same_cpu(fp, mine, threads=False)
    except Exception:  # noqa: BLE001 - identifying the machine must never stop a run
        other = None
    note = (f"Predictions were priced by profile {prof.name}, measured on another device ({prof.made_on}), "
            f"not on this {here or 'machine'}: calibrate here for predictions of this machine.") if other else ""
    return {"name": prof.name, "device": prof.device_name, "provenance": prof.provenance, "origin": prof.origin,
            "other_device": other, "note": note}


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
