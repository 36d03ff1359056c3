#!/usr/bin/env bash
# One prepared run for a short GPU booking: meters and the real-NVML test, the GPU calibration (the
# in-context GPU suite: seeded random networks whose ops are timed inside real training steps — on
# CUDA each op's time is the device time of the kernels its profiler event launched — and whose
# whole steps are measured with NVML; at most 4.5 minutes of measuring, --max-minutes), the
# unseen-model benchmark on the GPU with that profile (tests/benchmarks/bench_accuracy_gpu.py: the
# unseen small models, then the large steps), a quick validation on the GPU, then — where the
# booking has time left — the shipped CPU profile on the
# booking's host CPU (a CPU other than the one that made it: tests/benchmarks/bench_accuracy.py
# --profiles default), everything collected under $OUT (at most 8 files come back). Budget: under
# 9.5 minutes in all (run H200-b took 317 s, before the large steps and the device-bound suite
# families were added); the CPU step runs only when 50 s of the 590 are left. On the device machine:
#
#   bash calibration/fetch_gpu_wheels.sh            # here, once: wheels into .whl/ (carry it)
#   run: bash calibration/gpu_run.sh                # there, with carry [".whl"]
#
# Rehearse it on a CPU with the fake meter first (same steps, same files):
#
#   GE_DEVICE=cpu GE_METER=fake GE_QUICK=1 OUT=/tmp/ge-rehearsal bash calibration/gpu_run.sh
#
# (GE_QUICK=1 runs the quick suite: the full CPU suite takes about 8 minutes on 2 cores.)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ge-gpu-run}
DEVICE=${GE_DEVICE:-gpu}            # gpu | cpu (rehearsal)
METER=${GE_METER:-auto}             # auto (NVML on the GPU) | fake (rehearsal)
if [ "${GE_QUICK:-0}" = 1 ]; then QUICK=(--quick); else QUICK=(); fi
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 GREEN_ESTIMATE_HOME="$OUT/.home"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || { echo "wheel install failed" | tee -a "$OUT/log.txt"; exit 1; }
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
PY=${PYTHON:-python3}
GE="$PY -m green_estimate"
if [ "$DEVICE" = gpu ]; then DEV=(--gpu 0); else DEV=(--cpu); fi
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/log.txt"; }

log "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,power.draw --format=csv,noheader 2>&1 | head -1)"
log "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) logical CPUs"
log "meters --json (below; kept in the log, since at most 8 files come back)"
$GE meters --json >> "$OUT/log.txt" 2>&1
if [ "$DEVICE" = gpu ]; then
  log "pytest -m gpu (the real NVML counter)"
  timeout 60 $PY -m pytest -q -p no:cacheprovider -m gpu tests/meters/test_nvml.py >>"$OUT/log.txt" 2>&1 || log "pytest exited $?"
fi
log "calibrate ${DEV[*]} ${QUICK[*]} with meter $METER"
# --max-minutes: the device-bound families may make the suite longer than the booking; the networks
# measured in 4.5 minutes are fitted (about 30 s more), and the timeout is the backstop
timeout 330 $GE calibrate "${DEV[@]}" "${QUICK[@]}" --max-minutes 4.5 --meter "$METER" --name "${DEVICE}-measured" \
  --out "$OUT/profile.json" --json > "$OUT/calibrate.json" 2>>"$OUT/log.txt" || log "calibrate exited $?"
[ -s "$OUT/calibrate.json" ] && log "calibrate: $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["networks_measured"], "of", d["networks_in_suite"], "networks in", round(d["elapsed_s"]), "s")' "$OUT/calibrate.json" 2>&1)"
if [ -f "$OUT/profile.json" ]; then
  log "unseen-model benchmark on ${DEVICE} with that profile"
  if [ "$DEVICE" = gpu ]; then BENCH=(--device cuda:0); else BENCH=(--device cpu --watts 100); fi
  timeout 70 $PY tests/benchmarks/bench_accuracy_gpu.py --profile "$OUT/profile.json" "${BENCH[@]}" \
    --json "$OUT/bench.json" >>"$OUT/log.txt" 2>&1 || log "benchmark exited $?"
  if [ "$DEVICE" = gpu ]; then  # steps that keep the GPU busy (too slow for a CPU rehearsal)
    log "large-step benchmark on gpu with that profile"
    timeout 70 $PY tests/benchmarks/bench_accuracy_gpu.py --profile "$OUT/profile.json" --models large "${BENCH[@]}" \
      --json "$OUT/large.json" >>"$OUT/log.txt" 2>&1 || log "large benchmark exited $?"
  fi
  log "validate --quick ${DEV[*]}"
  # in a rehearsal the fake meter draws 100 W: give validate's estimate meter the same watts
  if [ "$METER" = fake ]; then WATTS=(--watts 100); else WATTS=(); fi
  timeout 100 $GE validate --quick "${DEV[@]}" "${WATTS[@]}" --profile "$OUT/profile.json" --out "$OUT/validation" \
    > "$OUT/validate.txt" 2>>"$OUT/log.txt" || log "validate exited $?"
  # bring back only what fits the 8-file limit: flatten the validation outputs we need
  for f in trials.csv report.md; do
    [ -f "$OUT/validation/$f" ] && cp "$OUT/validation/$f" "$OUT/validation-$(basename "$f")"
  done
fi
left=$(( 590 - ($(date +%s) - start) ))
if [ "$left" -ge 50 ]; then
  # the shipped CPU profile (made on another CPU) predicting the unseen models on this host's CPU, with
  # torch's own thread count: one pass, no calibration (about 30 s on 2 vCPUs)
  log "shipped CPU profile on this host's CPU (${left}s left)"
  CUDA_VISIBLE_DEVICES= timeout $(( left - 5 )) $PY tests/benchmarks/bench_accuracy.py --profiles default \
    --passes 1 --passes-before 0 --json "$OUT/cpu-default.json" >>"$OUT/log.txt" 2>&1 || log "CPU benchmark exited $?"
else
  log "no time left for the shipped CPU profile on this host's CPU (${left}s left)"
fi
mv "$OUT"/profile.samples.jsonl "$OUT/samples.jsonl" 2>/dev/null
rm -rf "$OUT/.home" "$OUT/validation" "$OUT/validate.txt" "$OUT/calibrate.json"
log "done; files: $(ls "$OUT" | tr '\n' ' ')"
