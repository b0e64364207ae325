#!/usr/bin/env bash
# One GPU lease of the teacher distillation (the steps of `citeqa distil`, lab/distil_commands.py), as three
# back-to-back device calls. The machine has no citeqa install: the steps run as `python3 -m lab.distil_commands`.
# A call carries at most 64 MiB, so the int8 teacher (10 parts, 110 MB) goes up in pieces, each
# copied to /tmp, which outlives the call while the machine stays warm:
#   call 1: `bash lab/distil_device.sh part1`, carrying .carry/p1 (examples, teacher config and
#           tokenizer, teacher parts 0-3); it starts tokenising in the background.
#   call 2: `bash lab/distil_device.sh part2`, carrying .carry/p2 (teacher parts 4-8).
#   call 3: `bash lab/distil_device.sh run`, carrying .carry/p3 (teacher part 9, the packed reader):
#           teacher fine-tuning, its targets, two students in parallel; results in $OUT.
#   call 4 (if minutes are left): `bash lab/distil_device.sh more`: the better student trained further.
# qa/reader_model/model.safetensors stays behind for all three (the packed copy travels instead).
# A later lease can skip the teacher: `bash lab/distil_device.sh students` in one call, carrying
# .carry/ps (examples.json.xz, the teacher's targets.npz brought back by call 3, student-packed/).
# The payloads are made by `citeqa distil pack` calls listed in qa/reader_model/README.md.
set -euo pipefail
C=${CARRY_DIR:-/tmp/carry}
F=${FEATURES_DIR:-/tmp/feats}
W=${WORK_DIR:-/tmp}
TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-176718}   # phase 4's range: the last 1,500 of the order stay held out (calibration)
GOLD="--report squad-v1.1-dev-articles-25-48 --report squad-v2.0-dev-public"   # the gold sets reported
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true HF_HUB_OFFLINE=1

case "$1" in
part1)
  mkdir -p "$C/eval" "$W/code" "$F"
  cp -r "${CARRY_SOURCE:-.carry}/p1/." "$C/"
  cp -r lab qa index runtime "$W/code/"
  cp "${EVAL_SOURCE:-bench/data}"/squad-v1.1-dev-articles-25-48.json "${EVAL_SOURCE:-bench/data}"/squad-v2.0-dev-public.json "$C/eval/"
  nvidia-smi -L || true
  python3 -c "import torch, transformers, sklearn; print(torch.__version__, transformers.__version__, sklearn.__version__)"
  cd "$W/code"
  for who in teacher student; do
    setsid nohup python3 -m lab.distil_commands prepare --who "$who" --examples "$C/examples.json.xz" \
      --eval "$C/eval/squad-v1.1-dev-articles-25-48.json" --eval "$C/eval/squad-v2.0-dev-public.json" \
      --teacher-tokenizer "$C/teacher" --student-tokenizer "$W/code/qa/reader_model" --out "$F" \
      >"$W/prepare-$who.log" 2>&1 </dev/null &
  done
  sleep "${SETTLE:-20}"
  tail -n 3 "$W"/prepare-*.log || true
  ;;
part2)
  cp -r "${CARRY_SOURCE:-.carry}/p2/." "$C/"
  ls -la "$C/teacher-packed" "$F"
  tail -n 3 "$W"/prepare-*.log || true
  ;;
run)
  cp -r "${CARRY_SOURCE:-.carry}/p3/." "$C/"
  ls "$C/teacher-packed" | wc -l
  for _ in $(seq 200); do
    [ -e "$F/done-teacher" ] && [ -e "$F/done-student" ] && break
    pgrep -f "lab.distil_commands prepare" >/dev/null || { echo "prepare is not running: tokenising now"; break; }
    sleep 2
  done
  cd "$W/code"
  for who in teacher student; do
    [ -e "$F/done-$who" ] || python3 -m lab.distil_commands prepare --who "$who" --examples "$C/examples.json.xz" \
      --eval "$C/eval/squad-v1.1-dev-articles-25-48.json" --eval "$C/eval/squad-v2.0-dev-public.json" \
      --teacher-tokenizer "$C/teacher" --student-tokenizer "$W/code/qa/reader_model" --out "$F" &
  done
  wait
  tail -n 3 "$W"/prepare-*.log || true
  cd "$W/code"
  python3 -m lab.distil_commands teacher --features "$F" --packed "$C/teacher-packed" --model "$C/teacher" \
    --train-examples $TRAIN_EXAMPLES $GOLD --batch-size "${TEACHER_BATCH:-64}" --learning-rate 5e-5 --budget "${TEACHER_BUDGET:-190}" \
    --temperature 2 --k 10 --out "$W/teacher-out" 2>&1 | grep -v -i warn | tee "$W/teacher.log"
  cp "$W/teacher-out/targets.npz" "$W/teacher-out/teacher-report.json" "$OUT/"
  for variant in "a 0.5 3e-5" "b 0.9 5e-5"; do
    set -- $variant
    python3 -m lab.distil_commands student --features "$F" --init "$W/code/qa/reader_model" --packed "$C/student-packed" \
      --targets "$W/teacher-out/targets.npz" --train-examples $TRAIN_EXAMPLES $GOLD \
      --alpha "$2" --learning-rate "$3" --batch-size "${STUDENT_BATCH:-32}" --budget "${STUDENT_BUDGET:-150}" --out "$W/student-$1" \
      >"$W/student-$1.log" 2>&1 &
  done
  wait
  for v in a b; do
    grep -v -i warn "$W/student-$v.log" | tail -n 8 || true
    for i in 0 1; do cp "$W/student-$v/student-$i.safetensors" "$OUT/$v-$i.safetensors" || true; done
    cp "$W/student-$v/report.json" "$OUT/$v-report.json" || true
  done
  ;;
students)
  # One call, no teacher: a lease that carries .carry/ps (examples.json.xz, targets.npz from an earlier
  # lease, student-packed/) trains up to three students in parallel for STUDENT_BUDGET seconds each.
  mkdir -p "$C" "$W/code" "$F" "$W/teacher-out"
  cp -r "${CARRY_SOURCE:-.carry}/ps/." "$C/"
  cp "$C/targets.npz" "$W/teacher-out/targets.npz"
  cp -r lab qa index runtime "$W/code/"
  mkdir -p "$C/eval"
  cp "${EVAL_SOURCE:-bench/data}"/squad-v1.1-dev-articles-25-48.json "${EVAL_SOURCE:-bench/data}"/squad-v2.0-dev-public.json "$C/eval/"
  cd "$W/code"
  python3 -m lab.distil_commands prepare --who student --examples "$C/examples.json.xz" \
    --eval "$C/eval/squad-v1.1-dev-articles-25-48.json" --eval "$C/eval/squad-v2.0-dev-public.json" \
    --teacher-tokenizer none --student-tokenizer "$W/code/qa/reader_model" --out "$F"
  IFS=';' read -ra variants <<<"${VARIANTS:-a 0.5 3e-5;b 0.9 5e-5}"
  for variant in "${variants[@]}"; do
    set -- $variant
    python3 -m lab.distil_commands student --features "$F" --init "$W/code/qa/reader_model" --packed "$C/student-packed" \
      --targets "$W/teacher-out/targets.npz" --train-examples $TRAIN_EXAMPLES $GOLD \
      --alpha "$2" --learning-rate "$3" --epochs "${EPOCHS:-2}" --batch-size "${STUDENT_BATCH:-32}" \
      --budget "${STUDENT_BUDGET:-400}" --out "$W/student-$1" >"$W/student-$1.log" 2>&1 &
  done
  wait
  for v in a b c; do
    [ -d "$W/student-$v" ] || continue
    grep -v -i warn "$W/student-$v.log" | tail -n 4 || true
    for i in 0 1; do cp "$W/student-$v/student-$i.safetensors" "$OUT/$v-$i.safetensors" || true; done
    cp "$W/student-$v/report.json" "$OUT/$v-report.json" || true
  done
  ;;
more)
  # If the lease has minutes left: the better student (held-out best F1) trained further at a lower rate.
  cd "$W/code"
  best=$(python3 -c "import json; r={v: json.load(open('$W/student-'+v+'/report.json'))['held-out']['best_f1'] for v in 'ab'}; print(max(r, key=r.get))")
  alpha=$(python3 -c "import json; print(json.load(open('$W/student-$best/report.json'))['settings']['alpha'])")
  echo "continuing student $best (alpha $alpha)"
  mkdir -p "$W/more-init"
  cp "$C/student-packed/part-0.safetensors" "$W/more-init/part-0.safetensors"
  for i in 0 1; do cp "$W/student-$best/student-$i.safetensors" "$W/more-init/part-$((i + 1)).safetensors"; done
  python3 -m lab.distil_commands student --features "$F" --init "$W/code/qa/reader_model" --packed "$W/more-init" \
    --targets "$W/teacher-out/targets.npz" --train-examples $TRAIN_EXAMPLES $GOLD --seed 14 \
    --alpha "$alpha" --learning-rate 2e-5 --batch-size "${STUDENT_BATCH:-32}" --budget "${MORE_BUDGET:-110}" \
    --out "$W/student-c" 2>&1 | grep -v -i warn | tail -n 8
  for i in 0 1; do cp "$W/student-c/student-$i.safetensors" "$OUT/c-$i.safetensors"; done
  cp "$W/student-c/report.json" "$OUT/c-report.json"
  ;;
esac
