#!/usr/bin/env bash
# Makes the shipped CPU reference profile: the full suite on this machine, estimate meter (no sensor
# on the project's machines), then archives its raw samples (gzipped) under calibration/samples/.
# Run on an otherwise idle machine: other processes inflate the measured times.
#
#   bash calibration/make_reference_cpu_profile.sh                 # calibrate (about 8 min on 2 cores)
#   bash calibration/make_reference_cpu_profile.sh path/full.json  # ship a profile made by the benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
out=green_estimate/data/profiles/cpu-reference-2core.json
samples=calibration/samples/cpu-reference-2core.samples.jsonl.gz
mkdir -p calibration/samples
if [ $# -ge 1 ]; then
  src=$1
  .venv/bin/python - "$src" "$out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["name"] = "cpu-reference-2core"
json.dump(p, open(sys.argv[2], "w"), indent=1)
PY
  gzip -9 -c "${src%.json}.samples.jsonl" > "$samples"
else
  rm -f "$out" "${out%.json}.samples.jsonl"
  .venv/bin/green-estimate calibrate --cpu --name cpu-reference-2core --out "$out"
  gzip -9 -c "${out%.json}.samples.jsonl" > "$samples"
  rm "${out%.json}.samples.jsonl"
fi
rm -f calibration/samples/cpu-reference-2core.samples.jsonl
echo "shipped $out; raw samples in $samples"
