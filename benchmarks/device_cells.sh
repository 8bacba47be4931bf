#!/usr/bin/env bash
# Experiment cells on a lent GPU (the `device` tool), recorded into the run ledger and brought back.
#
# Each line of JOBS (default benchmarks/device_jobs.txt) is `DATASET ARGS...`: the arguments of one
# `hhfan experiment` call (e.g. `ml-1m ablation --rates 0.6 --models hhfan`). Up to PARALLEL (default 4) lines
# run at once, each as
#
#     hhfan experiment ARGS --data .carry/DATASET [--configs configs/DATASET] --out /tmp/exp/DATASET-<line>
#         --ledger $LEDGER --set train.device=$DEVICE --set train.num_threads=2
#
# so a cell the ledger already holds is not trained again, and every cell finished is recorded (LEDGER defaults
# to benchmarks/ledger; --configs when that folder exists; DEVICE defaults to cuda, `DEVICE=cpu` tries the
# script anywhere). Each call is
# stopped when BUDGET seconds (default 420) have passed since the start; a cell cut short is simply not
# recorded (the CPU trains it later). At the end every ledger entry written here is copied to $OUT/ledger (the
# device tool brings $OUT back; copy it into benchmarks/ledger with `cp -rn`), with one log per line in $OUT.
#
# The datasets travel as imported directories in the ignored folder .carry/ (never committed):
#     echo /.carry/ >> .git/info/exclude
#     hhfan data import movielens-1m --source ../shared/data/ml-1m --out .carry/ml-1m   # and tiktok
# then the device call: command `bash benchmarks/device_cells.sh`, carry [".carry"].
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-benchmarks/device_jobs.txt}
PARALLEL=${PARALLEL:-4}
BUDGET=${BUDGET:-420}
OUT=${OUT:-/tmp/device-out}
PY=${PYTHON:-python3}
LEDGER=${LEDGER:-benchmarks/ledger}
DEVICE=${DEVICE:-cuda}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT/ledger" "$LEDGER"
stamp=$(mktemp) && touch "$stamp"
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
i=0
while read -r dataset args; do
    [[ -z "$dataset" || "$dataset" == \#* ]] && continue
    i=$((i + 1))
    while (( $(jobs -rp | wc -l) >= PARALLEL )); do sleep 2; done
    left=$(( BUDGET - ($(date +%s) - start) ))
    (( left < 30 )) && { echo "line $i ($dataset $args): no time left" >> "$OUT/skipped.txt"; continue; }
    configs=() && [[ -d "configs/$dataset" ]] && configs=(--configs "configs/$dataset")
    # shellcheck disable=SC2086
    timeout "$left" $PY -m hhfan experiment $args --data ".carry/$dataset" "${configs[@]}" \
        --out "/tmp/exp/$dataset-$i" --ledger "$LEDGER" --set "train.device=$DEVICE" \
        --set train.num_threads=2 > "$OUT/job$i.log" 2>&1 &
done < "$JOBS"
wait
(cd "$LEDGER" && find . -name '*.json' -newer "$stamp" -exec cp --parents {} "$OUT/ledger/" \;)
n=$(find "$OUT/ledger" -name '*.json' | wc -l)
echo "$n ledger entries recorded in $(( $(date +%s) - start )) s" | tee "$OUT/summary.txt"
