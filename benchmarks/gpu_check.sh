#!/usr/bin/env bash
# What a session with a GPU machine runs, in one go: the gpu-marked tests (the fused CuPy
# kernels of minigrad/kernels/cuda.py against the plain ops among them), the CUDA benchmarks
# (the transformer size first, with the fused kernels and without) and the summariser
# demo on CUDA.
# Usage: bash benchmarks/gpu_check.sh OUTDIR   (logs and JSON land in OUTDIR; DEMO=0 skips
# the demo, which needs jieba for its TextRank baseline and takes ~2.5 min on a GPU)
# Needs: python3 with numpy, cupy, pytest, hypothesis, tqdm (and torch for the comparisons).
set -u
out=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
py=${PYTHON:-python3}

section() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

section machine
nvidia-smi -L
$py -c "import numpy, cupy; print('numpy', numpy.__version__, 'cupy', cupy.__version__, \
'cuda runtime', cupy.cuda.runtime.runtimeGetVersion())"
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" || true

section "benchmark: transformer b64 s256 d512 (the issue's GPU target)"
timeout 120 $py -m benchmarks --device cuda --workloads transformer --batch 64 --seq 256 \
    --d-model 512 --repeats 7 --steps 5 --json "$out/gpu_transformer.json" \
    2>&1 | tee "$out/bench_transformer.log"

section "benchmark: the same transformer with the fused kernels off (MINIGRAD_FUSED=0)"
MINIGRAD_FUSED=0 timeout 120 $py -m benchmarks --device cuda --workloads transformer --batch 64 --seq 256 \
    --d-model 512 --repeats 7 --steps 5 --json "$out/gpu_transformer_plain.json" \
    2>&1 | tee "$out/bench_transformer_plain.log"

section "fused CuPy kernels against the plain ops (values, gradients, gradcheck)"
timeout 200 $py -m pytest -q -m gpu -p no:cacheprovider -rfEs --tb=short \
    tests/minigrad/test_kernels.py tests/minigrad/test_op_table.py > "$out/pytest_kernels.log" 2>&1
echo "pytest exit $?"
grep -E "^(FAILED|ERROR)|passed|failed" "$out/pytest_kernels.log" | tail -30

section "benchmark: default sizes on cuda"
timeout 100 $py -m benchmarks --device cuda --workloads mlp,rnn,transformer,tiny,summariser \
    --repeats 5 --steps 5 --json "$out/gpu_default.json" 2>&1 | tee "$out/bench_default.log"

section "gpu-marked tests"
timeout 200 $py -m pytest -q -m gpu -p no:cacheprovider -n 8 -rfEs --tb=short tests \
    > "$out/pytest_gpu.log" 2>&1
echo "pytest exit $?"
grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed" "$out/pytest_gpu.log" | tail -60

if [ "${DEMO:-1}" != 0 ]; then
    section "summariser demo on cuda"
    timeout 180 $py -m nlp demo --device cuda --show 2 2>&1 | tail -25
fi
section done
