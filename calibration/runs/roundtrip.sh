#!/usr/bin/env bash
# The validate round trip of docs/performance.md, in one script:
#   validate (priced by PRIOR) → calibrate --from-runs its trials.csv → validate again (other seed,
#   priced by the fitted profile) → both profiles scored on the second run's measured trials.
# Usage: bash calibration/runs/roundtrip.sh OUT_DIR [PRIOR] [VALIDATE OPTIONS...]
# KEEP=1 keeps trials measured under contention in the fit and the scoring (a shared machine).
set -euo pipefail
out=${1:?usage: roundtrip.sh OUT_DIR [PRIOR] [validate options]}
prior=${2:-cpu-reference-2core}
shift $(( $# > 1 ? 2 : 1 ))
ge=${GE:-.venv/bin/green-estimate}
py=${PY:-.venv/bin/python}
export GREEN_ESTIMATE_HOME=${GREEN_ESTIMATE_HOME:-$out/home}
mkdir -p "$out"
lscpu | grep "Model name" || true
date -u
$ge validate --quick --cpu --strategies grid --profile "$prior" --seed 10 --out "$out/first" "$@" > "$out/first.log" 2>&1
keep=(); all=()
if [ "${KEEP:-0}" = 1 ]; then keep=(--keep-contended); all=(--all); fi
$ge calibrate --from-runs "$out/first/trials.csv" --prior "$prior" --out "$out/fitted.json" "${keep[@]}" --json > "$out/fitted.out.json"
$ge validate --quick --cpu --strategies grid --profile "$out/fitted.json" --seed 11 --out "$out/second" "$@" > "$out/second.log" 2>&1
$py calibration/runs/roundtrip.py "$out/second/trials.csv" "$prior" "$out/fitted.json" "${all[@]}" | tee "$out/roundtrip.json"
date -u
