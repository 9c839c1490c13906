#!/usr/bin/env bash
# Study round 4 (docs/study.md): the product's own commands, one phase per GPU call (each < 10 min).
#
#   ../shared/tools/gpu-stage optuna==5.0.0 alembic==1.16.5 sqlalchemy==2.0.44 colorlog==6.10.1 mako==1.3.10 \
#       greenlet==3.2.4            # then its three staging calls, back to back
#   bash benchmarks/study_r4.sh pool      # builders: the GSM8K pool over six generation temperatures
#   bash benchmarks/study_r4.sh curve     # distill: learning curves (SeqKD on T=0 and T=1 data, online on T=1);
#                                         # round 4 used the search's own candidates' curves instead (budget)
#   bash benchmarks/study_r4.sh search1   # evaluate search: the mixture for serving at T = 1.0
#   bash benchmarks/study_r4.sh search06  # ... at T = 0.6 (reuses search1's trained drafts)
#   bash benchmarks/study_r4.sh measure   # evaluate run: the finalists, compiled sampler at k auto
#   bash benchmarks/study_r4.sh ksweep    # bench_chained: measured tokens/call at k = 1..4 vs predictions
#   QUICK=1 OUT=runs/r4-quick bash benchmarks/study_r4.sh pool   # CPU rehearsal of any phase, tiny sizes
#
# State lives under ~/r4 (TEMPDRAFT_HOME=~/r4/home) and survives between calls while the machine stays warm;
# every phase copies what it reports (JSON, Markdown, PNG, logs) to $OUT. Each phase refuses to start without
# the previous phase's output, so a cold machine fails fast instead of silently redoing work.
set -euo pipefail
phase=${1:?phase: pool|curve|search1|search06|measure|ksweep}
export PYTHONPATH=$HOME/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-runs/study-r4}
R4=${R4:-$HOME/r4}
export TEMPDRAFT_HOME=$R4/home
[ -d "$HOME/models" ] && export TEMPDRAFT_GGUF_DIR=$HOME/models   # staged by gpu-stage (no package index)
POOL=study_gsm8k_grid@latest
DATA=${DATA:-$HOME/data}
[ "${QUICK:-0}" = 1 ] && [ ! -d "$DATA/gsm8k" ] && DATA=../shared/data
mkdir -p "$OUT" "$R4"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/device.txt" || true
# QUICK=1: the same commands at CPU-rehearsal sizes (the GPU sizes are the defaults below).
if [ "${QUICK:-0}" = 1 ]; then
  PROMPTS=48 TOKENS=24 STEPS=8 EVERY=4 CANDIDATES=9 ROWS=24 EVAL=2 MEASURE=(--num-prompts 2 --max-new-tokens 16
  --device cpu)
else
  PROMPTS=3072 TOKENS=128 STEPS=1536 EVERY=32 CANDIDATES=12 ROWS=2048 EVAL=96 MEASURE=(--num-prompts 16
  --max-new-tokens 128 --cache static --compile true --device cuda)
fi
need() { [ -e "$1" ] || { echo "missing $1: run the earlier phase on this (warm) machine first" >&2; exit 3; }; }

# The study's distill settings on top of distill/configs/*.yaml: the 4-layer draft, 32-row steps, held-out
# alpha every 32 steps with early stopping (patience 6 = 192 steps), budget 1536 steps.
STUDY_SET=(--set optim.batch_size=32 --set optim.lr=5e-4 --set optim.max_length=512 --set optim.warmup_steps=20
           --set run.eval_rows=256 --set run.eval_every=$EVERY --set run.log_every=64 --set run.checkpoint_every=null
           --set run.early_stopping.patience=6 --set run.early_stopping.min_delta=0.002)

case $phase in
pool)
  python -m builders run recipes/study/gsm8k_grid.yaml \
    --set "sources.0={kind: file, path: $DATA/gsm8k/train.jsonl, prompt_column: question, limit: $PROMPTS, name: train}" \
    --set sampling.max_new_tokens=$TOKENS \
    2>&1 | tee "$OUT/pool.log"
  python -m registry show $POOL > "$OUT/pool.txt"
  ;;
curve)
  python -m registry path $POOL >/dev/null
  for arm in seqkd:t0_0 seqkd:t1_0 online_fkl:t1_0; do
    cfg=${arm%%:*} data=${arm##*:}
    python -m distill train "distill/configs/$cfg.yaml" "${STUDY_SET[@]}" \
      --set dataset.id=$POOL --set dataset.config="$data" --set optim.max_steps=$STEPS \
      --set run.output_dir="$R4/curve-$cfg-$data" 2>&1 | grep --line-buffered -v "^\[distill\] step" \
      | tee "$OUT/curve-$cfg-$data.log"
    cp "$R4/curve-$cfg-$data/learning_curve.png" "$OUT/curve-$cfg-$data.png"
    cp "$R4/curve-$cfg-$data/tempdraft-draft.json" "$OUT/curve-$cfg-$data.json"
  done
  ;;
search1 | search06)
  python -m registry path $POOL >/dev/null
  t=$([ "$phase" = search1 ] && echo 1.0 || echo 0.6)
  # distill_overrides.4 is study_search.yaml's run.eval_every entry
  python -m evaluate search evaluate/configs/study_search.yaml --set "serving.temperatures={$t: 1}" \
    --set output_dir="$R4/search" --set name="study_searched_t${t/./_}" --set budget.candidates=$CANDIDATES \
    --set budget.max_steps=$STEPS --set budget.train_rows=$ROWS --set budget.eval_prompts=$EVAL \
    --set "distill_overrides.4=run.eval_every=$EVERY" \
    2>&1 | tee "$OUT/$phase.log"
  for f in search.json search.md candidates.png recipe.yaml; do cp "$R4/search/$f" "$OUT/$phase-$f"; done
  cp "$R4/search/search.json" "$R4/$phase.json"
  # learning curves of the two corner drafts (every candidate trains with early stopping; its card has the curve)
  python -c 'import json, sys; s = json.load(open(sys.argv[1] + "/search.json"))
for c in s["candidates"]:
    if c["label"] in ("greedy SeqKD (T=0)", "single T=1"):
        print(c["label"].split()[-1].strip("()").replace("=", ""), sys.argv[1] + "/candidates/" + c["folder"] + "/draft")' \
    "$R4/search" | while read -r tag dir; do cp "$dir/learning_curve.png" "$OUT/$phase-curve-$tag.png" || true; done
  ;;
measure)
  need "$R4/search1.json"
  # every search's finalists (winner, best fixed candidate, greedy SeqKD), once each: their draft folders
  python -c 'import json, sys
seen = []
for path in sys.argv[2:]:
    s = json.load(open(path)); by = {c["label"]: c for c in s["candidates"]}
    seen += [d for d in (sys.argv[1] + "/candidates/" + by[f]["folder"] + "/draft" for f in s["finalists"]) if d not in seen]
print("\n".join(seen))' "$R4/search" "$R4"/search*.json > "$R4/drafts.txt"
  python -m evaluate run --target smollm2-135m-instruct $(sed 's/^/--drafts /' "$R4/drafts.txt") \
    --prompts $POOL --split validation --temperatures 0,0.6,1.0 --k auto --k-max 6 "${MEASURE[@]}" \
    --output-dir "$R4/measure" \
    2>&1 | tee "$OUT/measure.log"
  for f in results.json results.md k_curve.png speedup_vs_temperature.png; do
    [ -e "$R4/measure/$f" ] && cp "$R4/measure/$f" "$OUT/measure-$f"
  done
  ;;
ksweep)
  need "$R4/drafts.txt"
  # measured tokens per call at k = 1..4 against the chained and i.i.d. predictions (greedy + T=1 winner)
  python benchmarks/bench_chained.py --device cuda --teacher "$TEMPDRAFT_HOME/teachers/smollm2-135m-instruct" \
    --drafts "$(head -2 "$R4/drafts.txt" | paste -sd,)" --temperatures 0,1 --k-max 4 --num-prompts 12 --max-new-tokens 96 \
    --prompts "$DATA/gsm8k/test.jsonl" --cache static --compile --out "$OUT/ksweep.json" 2>&1 | tee "$OUT/ksweep.log"
  ;;
*) echo "unknown phase $phase" >&2; exit 2 ;;
esac
