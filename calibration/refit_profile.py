"""Refits a shipped profile from archived samples with today's fitting code, in place.

The measurements stay as they are (device, meter, idle power, torch version, calibration time, the
CPU's probe); only what the fit makes of them — op models, step model, powers, intervals, and the
fresh-page costs it took from the probe — is remade, and the
profile records the refit (``refit_utc``) and the samples files it was fitted on (``refit_from``).
Several samples files of the same device are fitted together (e.g. two bookings of one GPU); files
of different devices are refused. For a GPU profile the fit knows its op times are kernel times
(``fit_profile(gpu=True)``).

    python calibration/refit_profile.py calibration/samples/nvidia-h200-nvml.samples.jsonl.gz \\
        calibration/gpu-runs/run-h200-d/samples.jsonl.gz green_estimate/data/profiles/nvidia-h200-nvml.json

``--fresh-pages-from PROBE...`` (a CPU profile whose probe predates the fresh-page costs): device
probes of the profile's kind of machine (``green-estimate probe --json``) whose median fault and
unmap costs are added to the profile's probe, with ``fresh_pages_measured_utc`` (when they were
measured), before the refit prices fresh pages at them:

    python calibration/refit_profile.py calibration/samples/cpu-reference-2core.samples.jsonl.gz \\
        green_estimate/data/profiles/cpu-reference-2core.json \\
        --fresh-pages-from calibration/probes/cpu-reference-2core/probe-dc-*.json
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from green_estimate.calibration.calibrator import fit_profile, fresh_page_costs  # noqa: E402
from green_estimate.calibration.runner import read_samples  # noqa: E402

FITTED = ("classes", "step_model", "repeat_noise", "sample_count", "default_class", "uncalibrated_classes_priced_as",
          "method", "energy_basis", "fresh_pages")


def read_all(paths: list[Path]) -> list[dict]:
    """The samples of every file, in order; every file must be of one device (its header's ``device_name``)."""
    devices: dict[str, Path] = {}
    samples: list[dict] = []
    for path in paths:
        if not path.exists():
            sys.exit(f"no samples file {path}")
        header, found = read_samples(path)
        devices.setdefault((header or {}).get("device_name", "?"), path)
        samples += found
    if len(devices) > 1:
        sys.exit("samples of different devices cannot be fitted together: "
                 + "; ".join(f"{p} ({d})" for d, p in devices.items()))
    return samples


def with_fresh_pages(probe: dict, probes: list[dict]) -> dict:
    """``probe`` with the median fresh-page costs of ``probes`` (device probes of the same kind of
    machine) and the latest of their measurement times as ``fresh_pages_measured_utc``."""
    import statistics

    if not probes or any(p.get("fresh_page_s_per_byte") is None or p.get("unmap_s_per_byte") is None for p in probes):
        sys.exit("--fresh-pages-from: every probe must hold fresh_page_s_per_byte and unmap_s_per_byte "
                 "(measure them with `green-estimate probe --json`)")
    return {**probe, "fresh_page_s_per_byte": statistics.median(p["fresh_page_s_per_byte"] for p in probes),
            "unmap_s_per_byte": statistics.median(p["unmap_s_per_byte"] for p in probes),
            "fresh_pages_measured_utc": max(str(p.get("measured_utc", "")) for p in probes)}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path, help="samples files, then the profile to refit in place")
    ap.add_argument("--fresh-pages-from", nargs="+", type=Path, default=None, metavar="PROBE",
                    help="device probes whose median fresh-page costs the profile's probe takes first")
    args = ap.parse_args()
    if len(args.paths) < 2:
        sys.exit(__doc__)
    samples_paths, profile_path = args.paths[:-1], args.paths[-1]
    old = json.loads(profile_path.read_text())
    if args.fresh_pages_from:
        probes = [json.loads(p.read_text()) for p in args.fresh_pages_from]
        old["probe"] = with_fresh_pages(old.get("probe") or {}, probes)
    samples = read_all(samples_paths)
    # a CPU profile's probe may hold the fresh-page costs (measured with it, or added to it later with
    # ``fresh_pages_measured_utc``): the refit prices fresh pages at them, as a calibration does
    fitted = fit_profile(samples, gpu=old["device"]["kind"] == "gpu",
                         fresh_pages=fresh_page_costs(old.get("probe"))).build().data
    new = {**{k: v for k, v in old.items() if k in fitted or k not in FITTED},
           **{k: fitted[k] for k in FITTED if k in fitted},
           "refit_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "refit_from": [p.name for p in samples_paths]}
    profile_path.write_text(json.dumps(new, indent=1))
    print(f"refitted {profile_path} from {len(samples)} samples in {', '.join(map(str, samples_paths))}")


if __name__ == "__main__":
    main()
