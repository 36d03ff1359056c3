#!/usr/bin/env bash
# One prepared run for a short GPU booking, in two parts, everything collected under $OUT (at most 8
# files come back, so the CPU part's files travel as one cpu.tgz, validate's as validation.tgz):
#
# 1. The booking's host CPU, a CPU other than the one that made the shipped CPU profile, with the GPU
#    hidden and torch's own thread count, as a CPU user there would run: `calibrate --cpu --quick`
#    (at most 2.2 minutes of measuring, --max-minutes), then the unseen-model benchmark
#    (tests/benchmarks/bench_accuracy.py, one pass) pricing every model with that quick profile and
#    with the shipped default carried there by the device probe; then copy bandwidth by buffer size
#    (tests/benchmarks/bench_copy_sizes.py, two rounds) into the log.
# 2. The GPU: the real-NVML test, `calibrate --gpu 0` (the in-context GPU suite: seeded random
#    networks whose ops are timed inside real training steps — on CUDA each op's time is the device
#    time of the kernels its profiler event launched — and whose whole steps are measured with NVML;
#    as many minutes of measuring as the budget leaves, --max-minutes, the suite's families
#    interleaved so a partial run holds each), the unseen-model benchmark on the GPU with that
#    profile (tests/benchmarks/bench_accuracy_gpu.py: the unseen small models, then the large
#    steps), and `validate --quick --gpu 0` with it.
#
# Budget: 590 s in all (GE_BUDGET_S), under a 600-s booking call. On the device machine:
#
#   bash calibration/fetch_gpu_wheels.sh            # here, once: wheels into .whl/ (carry it)
#   run: bash calibration/gpu_run.sh                # there, with carry [".whl"], timeout 600
#   bash calibration/ship_gpu_profile.sh DIR NAME   # here, with the files that came back
#
# Two knobs for a later booking: GE_SKIP_CPU=1 leaves out part 1 (all the time for the GPU), and
# GE_RESUME=SAMPLES.jsonl.gz continues an earlier booking's GPU calibration from its archived samples
# (calibrate --resume: the networks in it are kept, the rest of the suite measured), e.g.
#
#   run: GE_SKIP_CPU=1 GE_RESUME=calibration/gpu-runs/run-h200-d/samples.jsonl.gz bash calibration/gpu_run.sh
#
# Rehearse it on a CPU with the fake meter first (same steps, same files; the "GPU" part then
# calibrates the CPU's quick suite too):
#
#   GE_DEVICE=cpu GE_METER=fake GE_QUICK=1 GE_BUDGET_S=900 OUT=/tmp/ge-rehearsal bash calibration/gpu_run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ge-gpu-run}
DEVICE=${GE_DEVICE:-gpu}            # gpu | cpu (rehearsal)
METER=${GE_METER:-auto}             # auto (NVML on the GPU) | fake (rehearsal)
BUDGET_S=${GE_BUDGET_S:-590}
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
elapsed() { echo $(( $(date +%s) - start )); }
left() { echo $(( BUDGET_S - $(elapsed) )); }
log() { echo "[$(elapsed)s] $*" | tee -a "$OUT/log.txt"; }
# what a `calibrate --json` record says it measured: "N of M networks in S s"
measured() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["networks_measured"], "of", d["networks_in_suite"], "networks in", round(d["elapsed_s"]), "s")' "$1" 2>&1; }

log "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit,clocks.sm,temperature.gpu --format=csv,noheader 2>&1 | head -1)"
log "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) logical CPUs; $($PY -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads(), "capability", torch.backends.cpu.get_cpu_capability())' 2>&1 | tail -1)"
log "lscpu: $(lscpu 2>/dev/null | grep -E '^(Thread|Core|Socket|NUMA node\(s\)|L3)' | tr -s ' ' | tr '\n' ';') flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
log "meters --json (below; kept in the log, since at most 8 files come back)"
$GE meters --json >> "$OUT/log.txt" 2>&1

# ---- 1. the host CPU (no GPU visible): a quick calibration and the shipped default, one pass --------
if [ "${GE_SKIP_CPU:-0}" = 1 ]; then
  log "CPU part skipped (GE_SKIP_CPU=1)"
else
mkdir -p "$OUT/cpu"
log "CPU: calibrate --cpu --quick --max-minutes 2.2 on this host's CPU"
CUDA_VISIBLE_DEVICES= timeout 200 $GE calibrate --cpu --quick --max-minutes 2.2 --name host-cpu-quick \
  --out "$OUT/cpu/quick.json" --json > "$OUT/cpu/calibrate.json" 2>>"$OUT/log.txt" || log "CPU calibrate exited $?"
[ -s "$OUT/cpu/calibrate.json" ] && log "CPU calibrate: $(measured "$OUT/cpu/calibrate.json")"
if [ -f "$OUT/cpu/quick.json" ]; then CPU_PROFILES="$OUT/cpu/quick.json,default"; else CPU_PROFILES=default; fi
log "CPU: unseen-model benchmark, profiles $CPU_PROFILES, one pass"
CUDA_VISIBLE_DEVICES= timeout 120 $PY tests/benchmarks/bench_accuracy.py --profiles "$CPU_PROFILES" \
  --passes 1 --passes-before 0 --json "$OUT/cpu/bench.json" >>"$OUT/log.txt" 2>&1 || log "CPU benchmark exited $?"
log "CPU: copy bandwidth by buffer size (where the probe's copies fall against this host's caches)"
CUDA_VISIBLE_DEVICES= timeout 30 $PY tests/benchmarks/bench_copy_sizes.py --rounds 2 >>"$OUT/log.txt" 2>&1 || log "copy sizes exited $?"
cp -r "$OUT/.home" "$OUT/cpu/home" 2>/dev/null  # the probe this host measured (and its cache)
tar -czf "$OUT/cpu.tgz" -C "$OUT" cpu && rm -rf "$OUT/cpu"
rm -rf "$OUT/.home"; mkdir -p "$OUT/.home"  # the GPU part starts from an empty home
fi

# ---- 2. the GPU ---------------------------------------------------------------------------------
if [ "$DEVICE" = gpu ]; then
  log "pytest -m gpu (the real NVML counter)"
  timeout 60 $PY -m pytest -q -p no:cacheprovider -m gpu tests/meters/test_nvml.py >>"$OUT/log.txt" 2>&1 || log "pytest exited $?"
fi
# after measuring: about 30 s of fitting, 2 × 40 s of benchmarks, 50 s of validate (run H200-b), and slack
minutes=$($PY -c "import sys; print(max(1.5, round((int(sys.argv[1]) - 200) / 60, 1)))" "$(left)")
RESUME=()
if [ -n "${GE_RESUME:-}" ]; then
  if gzip -dc "$GE_RESUME" > "$OUT/profile.samples.jsonl"; then
    RESUME=(--resume); log "resuming from $GE_RESUME ($(grep -c '"type": "sample"' "$OUT/profile.samples.jsonl") networks in it)"
  else
    log "could not read $GE_RESUME: calibrating from the start"; rm -f "$OUT/profile.samples.jsonl"
  fi
fi
log "calibrate ${DEV[*]} ${QUICK[*]} ${RESUME[*]} --max-minutes $minutes with meter $METER ($(left)s left)"
timeout $(( $(left) - 110 )) $GE calibrate "${DEV[@]}" "${QUICK[@]}" "${RESUME[@]}" --max-minutes "$minutes" --meter "$METER" --name "${DEVICE}-measured" \
  --out "$OUT/profile.json" --json > "$OUT/calibrate.json" 2>>"$OUT/log.txt" || log "calibrate exited $?"
[ -s "$OUT/calibrate.json" ] && log "calibrate: $(measured "$OUT/calibrate.json")"
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
  if [ "$(left)" -ge 30 ]; then
    log "validate --quick ${DEV[*]} ($(left)s left)"
    # in a rehearsal the fake meter draws 100 W: give validate's estimate meter the same watts
    if [ "$METER" = fake ]; then WATTS=(--watts 100); else WATTS=(); fi
    timeout $(( $(left) - 5 )) $GE validate --quick "${DEV[@]}" "${WATTS[@]}" --profile "$OUT/profile.json" --out "$OUT/validation" \
      > "$OUT/validate.txt" 2>>"$OUT/log.txt" || log "validate exited $?"
    # bring back only what fits the 8-file limit: the trials, both reports and the plots as one file
    # (report.json holds the dataset's shape, which tests/benchmarks/bench_validate_reprice.py reads)
    [ -d "$OUT/validation" ] && tar -czf "$OUT/validation.tgz" -C "$OUT/validation" --exclude='*.sqlite3*' .
  else
    log "no time left for validate ($(left)s left)"
  fi
fi
mv "$OUT"/profile.samples.jsonl "$OUT/samples.jsonl" 2>/dev/null
rm -rf "$OUT/.home" "$OUT/validation" "$OUT/validate.txt" "$OUT/calibrate.json"
log "done; files: $(ls "$OUT" | tr '\n' ' ')"
