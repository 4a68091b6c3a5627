#!/usr/bin/env bash
# One DP epoch on a GPU against the same epoch on the CPU, on one machine (issue 15).
#
#     [STEPS="1 2"] bash bench/gpu_epoch.sh OUT_DIR
#
# Runs bench/bench_scale.py's streamed DP fit (the default VAE, epsilon 8, a partitioned
# simulator build) four times, each in its own child process, and copies
# bench/results/scale.json (GPU fits are keyed "... gpu") and the log to OUT_DIR:
#   1. 10,000 customers, one whole epoch (157 steps) on the GPU;
#   2. the same epoch on the CPU, one thread (as every CPU figure in BENCHMARKS.md);
#   3. 100,000 customers, one whole epoch (1,563 steps) on the GPU;
#   4. 100,000 customers with batch size 1,024 on the GPU (the same epsilon; 98 steps).
# For a machine whose Python lacks journeylab's install: if .whl/ holds wheels (opacus),
# they are installed into a temporary folder, and journeylab's import root is made of
# links to this checkout. On 2026-12-05 (Python 3.12 with torch, Lightning, pyarrow there)
# .whl/ held what this made, keeping it out of git with `echo /.whl/ >> .git/info/exclude`:
#     pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#         opacus==1.6.0 pandas==2.3.3 pytz tzdata Each step has its own time limit, so a slow one never eats
# the others' time: about 15 minutes in all on an H100 machine, more than one 10-minute call,
# so STEPS picks some (2026-12-05: steps 1, 2 and 4 were measured; step 3 did not finish in
# the 190 s it then had). Step 2's fit is keyed like this machine's CPU fits in
# scale.json: merge the copy in OUT_DIR by hand, under a key that names the machine.
set -u
OUT_DIR=${1:?give the folder for the results}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
if ! $PY -c "import journeylab.generators" 2>/dev/null; then
    site=$(mktemp -d)
    if ls .whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 1
    fi
    mkdir -p "$site/journeylab"
    for f in journeylab/*.py; do ln -s "$PWD/$f" "$site/journeylab/"; done
    for d in app evaluation generators journeys predictors privacy; do ln -s "$PWD/$d" "$site/journeylab/$d"; done
    export PYTHONPATH="$site:$PWD" PYTHONSAFEPATH=1  # not the checkout's journeylab/ first
fi
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    $PY -c "import torch, pytorch_lightning as pl, opacus, pandas, pyarrow; print('torch', torch.__version__, 'lightning', pl.__version__, 'opacus', opacus.__version__, 'pandas', pandas.__version__, 'pyarrow', pyarrow.__version__, 'cuda', torch.cuda.is_available())"
    nproc
} 2>&1 | tee "$OUT_DIR/gpu_epoch.log"
step() {  # step SECONDS ARGS...: one bench_scale run, its log and the results so far kept
    local limit=$1
    shift
    echo "== $(date -u +%T) bench_scale $*" | tee -a "$OUT_DIR/gpu_epoch.log"
    local log
    log=$(mktemp)
    timeout "$limit" $PY -m bench.bench_scale --modes partitioned "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    cat "$log" >>"$OUT_DIR/gpu_epoch.log"
    cp bench/results/scale.json "$OUT_DIR/" 2>/dev/null
    if grep -q " failed: " "$log"; then rc=1; fi
    return "$rc"
}
STEPS=${STEPS:-1 2 3 4}  # which steps to run: all four need more than one 10-minute call
for s in $STEPS; do
    case $s in
    1) step 120 --sizes 10000 --fit-steps 160 --accelerator gpu --timeout 110 || exit 1 ;;
    2) OMP_NUM_THREADS=1 step 170 --sizes 10000 --fit-steps 160 --accelerator cpu --timeout 160 ;;
    3) step 330 --sizes 100000 --fit-steps 1600 --accelerator gpu --timeout 320 ;;
    4) step 230 --sizes 100000 --fit-steps 100 --accelerator gpu --timeout 220 \
        --fit-config '{"batch_size": 1024}' ;;
    *) echo "unknown step $s: STEPS takes 1 to 4" >&2 && exit 2 ;;
    esac
done
echo "== $(date -u +%T) done" | tee -a "$OUT_DIR/gpu_epoch.log"
