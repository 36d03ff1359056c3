"""Refits a shipped profile from its archived samples with today's fitting code, in place.

The measurements stay as they are (device, meter, idle power, torch version, calibration time);
only what the fit makes of them — op models, step model, powers, intervals — is remade, and the
profile records the refit (``refit_utc``). For a GPU profile the fit knows its op times are kernel
times (``fit_profile(gpu=True)``).

    python calibration/refit_profile.py calibration/samples/nvidia-h200-nvml.samples.jsonl.gz \\
        green_estimate/data/profiles/nvidia-h200-nvml.json
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


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    samples_path, profile_path = Path(sys.argv[1]), Path(sys.argv[2])
    old = json.loads(profile_path.read_text())
    _, samples = read_samples(samples_path)
    fitted = fit_profile(samples, gpu=old["device"]["kind"] == "gpu").build().data
    new = {**old, **{k: fitted[k] for k in FITTED if k in fitted},
           "refit_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    profile_path.write_text(json.dumps(new, indent=1))
    print(f"refitted {profile_path} from {len(samples)} samples in {samples_path}")


if __name__ == "__main__":
    main()
