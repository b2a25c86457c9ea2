#!/usr/bin/env bash
# One-time GPU check (one H100 or H200): bench.py on the mnist and cifar10 shapes with and without the
# GPU switches, then the wall clock of `reproduce.py --preset mnist5k-quick --seeds 0`.
#
# STATUS: NOT RUN YET. Written on a machine without a GPU; no number from it is in docs/benchmarks.md.
#
# The GPU machine reaches no network, runs Python 3.12 with its own torch (2.11 when last described,
# not our 2.14.1), and lacks diffusers, importlib_metadata, lazy-importer and mlxtend. So:
#   1. here, once (needs PyPI):       bash tools/gpu_check.sh prepare     # wheels into .whl/ (git-ignored)
#   2. on the GPU machine, .whl carried along, two calls in a row (each fits a 10-minute command):
#                                     bash tools/gpu_check.sh bench       # ~5 min (8 bench runs)
#                                     bash tools/gpu_check.sh reproduce   # REPRO_TIMEOUT s at most
#                                     MNIST_RAW=/path/to/raw bash tools/gpu_check.sh mnist   # real MNIST, 28 px
#      (`bash tools/gpu_check.sh all` does the first two in one go.)
#   The mnist part needs the four original MNIST IDX files: in data/MNIST/raw/ already (torchvision
#   downloads them there), or copied there from MNIST_RAW. It times the mnist preset's whole one-seed
#   pipeline (pre-training with bf16 autocast, as the preset sets it, Retrain, judge, every method, both
#   attacks) and reports the judge's accuracy on the pre-trained model's guided samples (target >= 98 %)
#   from results/mnist/results.json; the bf16 / torch.compile speed on and off comes from the bench part.
# Logs: $OUT/gpu_check/ if OUT is set, else runs/gpu_check/. Nothing is downloaded by steps bench/reproduce.
set -u
cd "$(dirname "$0")/.."
PART=${1:-all}
PY=${PYTHON:-python3}
WHEELS=(diffusers==0.42.1 importlib_metadata==10.2.0 lazy-importer==0.1.0 mlxtend==0.23.4)

if [ "$PART" = prepare ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    exec "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi

LOG=${OUT:+$OUT/gpu_check}
LOG=${LOG:-runs/gpu_check}
mkdir -p "$LOG"
export PYTHONUNBUFFERED=1
if ! "$PY" -c "import diffusers, mlxtend" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "diffusers/mlxtend missing and no .whl/ here: run 'bash tools/gpu_check.sh prepare' first" >&2
        exit 1
    fi
fi

{ date; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  "$PY" -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
            torch.cuda.get_device_name(0), '| diffusers', diffusers.__version__)"; } 2>&1 | tee "$LOG/machine.txt"

bench() {   # bench PRESET TIMEOUT FLAGS...
    local preset=$1 limit=$2; shift 2
    local name="bench_${preset}${*:+_}$(echo "$*" | tr -d '-' | tr ' ' '_')"
    echo "== $preset $* (limit ${limit}s)" | tee "$LOG/$name.txt"
    local start=$SECONDS
    timeout "$limit" "$PY" bench.py --preset "$preset" --device cuda "$@" 2>&1 | tee -a "$LOG/$name.txt"
    echo "exit ${PIPESTATUS[0]} after $(( SECONDS - start )) s wall (124 = stopped at the limit)" | tee -a "$LOG/$name.txt"
}

if [ "$PART" = bench ] || [ "$PART" = all ]; then
    for preset in mnist cifar10; do
        bench "$preset" 90                                   # fp32, the baseline
        bench "$preset" 90 --tf32
        bench "$preset" 90 --amp --channels-last
        bench "$preset" 180 --amp --channels-last --compile --tf32
    done
    bench cifar10 60 --amp --channels-last --profile         # what dominates on the GPU (self CUDA time)
fi

if [ "$PART" = reproduce ] || [ "$PART" = all ]; then
    limit=${REPRO_TIMEOUT:-420}
    echo "== reproduce.py --preset mnist5k-quick --seeds 0 --fresh (limit ${limit}s)" | tee "$LOG/reproduce.txt"
    start=$(date +%s)
    timeout "$limit" "$PY" reproduce.py --preset mnist5k-quick --seeds 0 --fresh --device cuda \
        >>"$LOG/reproduce.txt" 2>&1
    rc=$?
    echo "reproduce.py exit $rc after $(( $(date +%s) - start )) s wall (124 = stopped at the ${limit}s limit)" \
        | tee -a "$LOG/reproduce.txt"
    cp -r results/mnist5k-quick "$LOG/results-mnist5k-quick" 2>/dev/null || true
fi

if [ "$PART" = mnist ]; then
    if [ -n "${MNIST_RAW:-}" ]; then mkdir -p data/MNIST/raw && cp "$MNIST_RAW"/*-ubyte data/MNIST/raw/ || exit 1; fi
    limit=${MNIST_TIMEOUT:-580}
    echo "== reproduce.py --preset mnist --seeds 0 (limit ${limit}s)" | tee "$LOG/mnist.txt"
    start=$(date +%s)
    timeout "$limit" "$PY" reproduce.py --preset mnist --seeds 0 --device cuda >>"$LOG/mnist.txt" 2>&1
    rc=$?
    echo "reproduce.py exit $rc after $(( $(date +%s) - start )) s wall (124 = stopped at the ${limit}s limit; rerun to continue)" \
        | tee -a "$LOG/mnist.txt"
    "$PY" -c "import json; s = json.load(open('results/mnist/results.json'))['settings']; print('judge on guided samples:', s['pretrained_samples']['accuracy'], 'stage seconds:', s['stage_seconds'])" \
        2>&1 | tee -a "$LOG/mnist.txt"
    cp -r results/mnist "$LOG/results-mnist" 2>/dev/null || true
fi
