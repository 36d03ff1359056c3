#!/usr/bin/env bash
# Makes the shipped CPU reference profile: the full suite on this machine, estimate meter.
# Run on an otherwise idle machine (other processes inflate the measured times).
set -euo pipefail
cd "$(dirname "$0")/.."
out=green_estimate/data/profiles/cpu-reference-2core.json
rm -f "$out" "${out%.json}.samples.jsonl"
.venv/bin/green-estimate calibrate --cpu --name cpu-reference-2core --out "$out"
mkdir -p calibration/samples
mv "${out%.json}.samples.jsonl" calibration/samples/cpu-reference-2core.samples.jsonl
