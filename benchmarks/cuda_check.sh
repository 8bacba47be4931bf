#!/usr/bin/env bash
# The CUDA path on a machine with a GPU (no ../shared/data needed): the GPU tests, then seconds per epoch of
# every model on the ML-1M-sized synthetic world on the GPU, and of HHFAN and BPR-MF on the same machine's
# CPU as the baseline of the ratio. Writes results and logs into DIR (default benchmarks/results).
#
#     bash benchmarks/cuda_check.sh [DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-benchmarks/results}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$DIR/cuda_check.log"
$PY -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)" \
    | tee -a "$DIR/cuda_check.log"
$PY -m pytest -q -p no:cacheprovider -m gpu tests/test_cuda.py 2>&1 | tee -a "$DIR/cuda_check.log"
rc=$?
$PY benchmarks/train.py --cases synth --models all --device cuda --epochs 3 --repeats 2 \
    --out "$DIR/train_synth_cuda.json" 2>&1 | tee -a "$DIR/cuda_check.log" || rc=1
$PY benchmarks/train.py --cases synth --models hhfan,bprmf --device cpu --epochs 2 --repeats 1 \
    --out "$DIR/train_synth_cpu.json" 2>&1 | tee -a "$DIR/cuda_check.log" || rc=1
exit $rc
