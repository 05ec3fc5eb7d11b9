#!/usr/bin/env bash
# The learning studies of docs/studies.md run with the paper's own code
# (../shared/peers/paper_train.py and the authors' library beside it), same settings as
# `fomoh study` (model, batch, step sizes, epochs, training subset, Gaussian tangents).
#
#   PY=path/to/venv/bin/python scripts/paper_study.sh logreg|mlp|cnn [OUT_DIR]
#
# Run from the repository root. Reads MNIST from ../shared/data/mnist (MNIST=DIR to change);
# SEEDS="0 1 2" replaces the study's seeds. With GNU time at /usr/bin/time, each run's peak
# resident memory (KiB) is written beside its CSV (<optimizer>-s<seed>.rss).
# Writes OUT_DIR/<optimizer>-s<seed>.csv (default docs/results/paper/<model>); a run whose CSV
# exists is skipped, so an interrupted study continues where it stopped.
set -euo pipefail
model=${1:?usage: scripts/paper_study.sh logreg|mlp|cnn [OUT_DIR]}
out=${2:-docs/results/paper/$model}
py=${PY:-python3}
mnist=${MNIST:-../shared/data/mnist}
peers=${PEERS:-../shared/peers}
if [ ! -d "$mnist" ]; then
  echo "MNIST directory $mnist not found: put the four IDX .gz files there (or set MNIST=DIR)" >&2
  exit 2
fi
case $model in
  logreg) seeds="0 1 2"; epochs=5; batch=1024; extra=""
          opts="fgd@0.005 fomoh@0.1 fomoh-kd:2@0.1 fomoh-kd:3@0.1 fomoh-kd:4@0.1 fomoh-bp@0.5" ;;
  mlp)    seeds="0"; epochs=3; batch=1024; extra=""
          opts="fgd@0.005 fomoh-kd:2@0.02 fomoh-kd:4@0.02 fomoh-bp@0.5" ;;
  cnn)    seeds="0"; epochs=2; batch=1024; extra="--train-samples 4096"
          opts="fomoh-kd:2@0.02" ;;
  *) echo "unknown model $model" >&2; exit 2 ;;
esac
seeds=${SEEDS:-$seeds}
mkdir -p "$out"
for seed in $seeds; do
  for o in $opts; do
    name=${o%@*}; lr=${o#*@}
    csv="$out/${name/:/}-s$seed.csv"
    [ -s "$csv" ] && continue
    echo "== $model $name lr $lr seed $seed" >&2
    timed=()
    [ -x /usr/bin/time ] && timed=(/usr/bin/time -f %M -o "${csv%.csv}.rss")
    "${timed[@]}" "$py" "$peers/paper_train.py" "$mnist" "$csv.tmp" --model "$model" --optimizer "$name" \
      --lr "$lr" --batch "$batch" --epochs "$epochs" --seed "$seed" $extra > /dev/null
    mv "$csv.tmp" "$csv"
  done
done
