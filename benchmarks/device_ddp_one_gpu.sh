#!/usr/bin/env bash
# Issue 17 on the one GPU that is lent: the torchrun paths run to completion with two processes
# sharing it (gloo: a correctness run, not a speed run), beside the same command in one process.
# Usage on the device machine (wheels of the project and its missing dependencies in .devwheels/):
#   bash benchmarks/device_ddp_one_gpu.sh        (writes $OUT/ddp.jsonl and $OUT/ddp_log.txt)
set -uo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/ddp_out}; W=/tmp/ddpw; NIGHTS=${NIGHTS:-16}; HOURS=${HOURS:-1}
mkdir -p "$OUT" "$W/nights"
LOG="$OUT/ddp_log.txt"; RES="$OUT/ddp.jsonl"
python3 -m pip install -q --no-deps --no-index .devwheels/*.whl >>"$LOG" 2>&1 || { echo "wheel install failed"; tail -20 "$LOG"; exit 1; }
cd /tmp   # the installed package, not the checkout
emit() { echo "$1" | tee -a "$RES"; }
python3 -c "import torch; print(torch.__version__, torch.cuda.device_count(), torch.cuda.get_device_name(0))" | tee -a "$LOG"
DEMO=$(python3 -c "from sleepfm_engine.resources import resource_path; print(resource_path('models', 'demo'))")
seq 0 $((NIGHTS - 1)) | xargs -P 14 -I{} sleepfm synth -o "$W/nights/n{}.edf" --hours "$HOURS" --seed {} >>"$LOG" 2>&1
emit "{\"what\": \"nights\", \"n\": $(ls "$W"/nights/*.edf | wc -l), \"hours\": $HOURS}"
FT=(finetune staging --data "$W/nights" --base "$DEMO" --unfreeze-base --epochs 3 --batch-size 2
    --seed 0 --split-seed 0 --window-chunks 12 --lr 3e-4 --workers 2 --no-plots -q --overwrite)
run() {  # name, command...
  local name=$1; shift; local t0=$SECONDS
  "$@" >>"$LOG" 2>&1; local rc=$?
  emit "{\"what\": \"$name\", \"rc\": $rc, \"wall_s\": $((SECONDS - t0))}"
}
run finetune_e2e_1proc sleepfm "${FT[@]}" -o "$W/e1"
run finetune_e2e_torchrun2 torchrun --nproc-per-node 2 "$(which sleepfm)" "${FT[@]}" -o "$W/e2"
for d in e1 e2; do
  [ -f "$W/$d/training/metrics.json" ] && python3 - "$W/$d/training/metrics.json" "$d" <<'PY' | tee -a "$RES"
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"what": "metrics_" + sys.argv[2], "test": {k: m["test"].get(k) for k in ("accuracy", "kappa", "n_nights")},
                  "validation": {k: m["validation"].get(k) for k in ("accuracy", "kappa")}, "best_epoch": m.get("best_epoch")}))
PY
done
PRE=(pretrain --data "$W/nights" --epochs 1 --max-steps-per-epoch 40 --batch-size 32 --workers 4 --max-val-batches 4 -q --overwrite)
run pretrain_compile_1proc sleepfm "${PRE[@]}" --compile -o "$W/p1"
run pretrain_compile_torchrun2 torchrun --nproc-per-node 2 "$(which sleepfm)" "${PRE[@]}" --compile -o "$W/p2"
run pretrain_torchrun2 torchrun --nproc-per-node 2 "$(which sleepfm)" "${PRE[@]}" -o "$W/p3"
run stage_torchrun2 torchrun --nproc-per-node 2 "$(which sleepfm)" stage "$W/nights" --model "$DEMO" -o "$W/st2"
python3 - "$W/nights" "$W/st2" <<'PY' | tee -a "$RES"
import json, sys, pathlib, collections
nights = sorted(p.stem for p in pathlib.Path(sys.argv[1]).glob("*.edf"))
outs = [p.name for p in pathlib.Path(sys.argv[2]).rglob("*") if p.is_file()]
per = collections.Counter(n for n in nights for o in outs if o.startswith(n + ".auto-hypnogram"))
print(json.dumps({"what": "stage_torchrun2_files", "nights": len(nights), "outputs": len(outs),
                  "missing": [n for n in nights if per[n] == 0], "twice": [n for n in nights if per[n] > 1]}))
PY
tail -c 3000 "$LOG" > "$OUT/ddp_log_tail.txt"
