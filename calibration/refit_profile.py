"""Refits a shipped profile from archived samples with today's fitting code, in place.

The measurements stay as they are (device, meter, idle power, torch version, calibration time);
only what the fit makes of them — op models, step model, powers, intervals — is remade, and the
profile records the refit (``refit_utc``) and the samples files it was fitted on (``refit_from``).
Several samples files of the same device are fitted together (e.g. two bookings of one GPU); files
of different devices are refused. For a GPU profile the fit knows its op times are kernel times
(``fit_profile(gpu=True)``).

    python calibration/refit_profile.py calibration/samples/nvidia-h200-nvml.samples.jsonl.gz \\
        calibration/gpu-runs/run-h200-d/samples.jsonl.gz green_estimate/data/profiles/nvidia-h200-nvml.json
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from green_estimate.calibration.calibrator import fit_profile  # noqa: E402
from green_estimate.calibration.runner import read_samples  # noqa: E402

FITTED = ("classes", "step_model", "repeat_noise", "sample_count", "default_class", "uncalibrated_classes_priced_as",
          "method", "energy_basis")


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


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    samples_paths, profile_path = [Path(a) for a in sys.argv[1:-1]], Path(sys.argv[-1])
    old = json.loads(profile_path.read_text())
    samples = read_all(samples_paths)
    fitted = fit_profile(samples, gpu=old["device"]["kind"] == "gpu").build().data
    new = {**old, **{k: fitted[k] for k in FITTED if k in fitted},
           "refit_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "refit_from": [p.name for p in samples_paths]}
    profile_path.write_text(json.dumps(new, indent=1))
    print(f"refitted {profile_path} from {len(samples)} samples in {', '.join(map(str, samples_paths))}")


if __name__ == "__main__":
    main()
