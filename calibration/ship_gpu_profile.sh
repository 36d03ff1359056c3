#!/usr/bin/env bash
# Ships a GPU profile made by calibration/gpu_run.sh on a booked GPU: the profile under
# green_estimate/data/profiles/NAME.json (its name set to NAME), its raw samples gzipped under
# calibration/samples/, and the run's other files (log, benchmarks, validation) under
# calibration/gpu-runs/NAME/ (with the profile as calibrated; validate's files under validation/, the
# host-CPU part of cpu.tgz under host-cpu/), so the figures in docs/performance.md
# can be read and refitted (calibration/refit_profile.py).
#
#   bash calibration/ship_gpu_profile.sh /work/.device/2 nvidia-h200-nvml
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?the folder gpu_run.sh filled (its \$OUT)}
name=${2:?the shipped profile name, e.g. nvidia-h200-nvml}
out=green_estimate/data/profiles/$name.json
python3 - "$src/profile.json" "$out" "$name" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["name"] = sys.argv[3]
json.dump(p, open(sys.argv[2], "w"), indent=1)
PY
mkdir -p calibration/samples "calibration/gpu-runs/$name"
gzip -9 -c "$src/samples.jsonl" > "calibration/samples/$name.samples.jsonl.gz"
for f in log.txt meters.json bench.json large.json validation-trials.csv validation-report.md; do
  [ -f "$src/$f" ] && cp "$src/$f" "calibration/gpu-runs/$name/$f"
done
cp "$src/profile.json" "calibration/gpu-runs/$name/profile-as-calibrated.json"  # before any later refit
if [ -f "$src/validation.tgz" ]; then  # validate's trials, reports and plots (gpu_run.sh since run H200-d)
  mkdir -p "calibration/gpu-runs/$name/validation" && tar -xzf "$src/validation.tgz" -C "calibration/gpu-runs/$name/validation"
fi
if [ -f "$src/cpu.tgz" ]; then  # the host-CPU part: its bench JSON, the quick profile, its samples gzipped, the probe
  tmp=$(mktemp -d) && tar -xzf "$src/cpu.tgz" -C "$tmp"
  mkdir -p "calibration/gpu-runs/$name/host-cpu"
  for f in bench.json quick.json calibrate.json; do
    [ -f "$tmp/cpu/$f" ] && cp "$tmp/cpu/$f" "calibration/gpu-runs/$name/host-cpu/$f"
  done
  [ -f "$tmp/cpu/quick.samples.jsonl" ] && gzip -9 -c "$tmp/cpu/quick.samples.jsonl" > "calibration/gpu-runs/$name/host-cpu/quick.samples.jsonl.gz"
  for f in "$tmp"/cpu/home/probes/*.json; do [ -f "$f" ] && cp "$f" "calibration/gpu-runs/$name/host-cpu/probe.json"; done
  rm -rf "$tmp"
fi
echo "shipped $out; raw samples in calibration/samples/$name.samples.jsonl.gz; run files in calibration/gpu-runs/$name/"
