#!/usr/bin/env bash
# The communication measurements of docs/distributed.md: one epoch of `fomoh train
# --distributed` at 1, 2 and 4 ranks (MNIST logistic regression and MLP; FoMoH-KD:8, FoMoH-BP
# and SGD), then the timings of the collectives alone (examples/mpi_allgather.rs). Prints
# markdown tables (python3 reads the summaries).
#
# Usage: scripts/mpi_measure.sh [MNIST_DIR]   (default ../shared/data/mnist; a release build
# with the feature first: cargo build --release --features mpi --bin fomoh --example mpi_allgather)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mnist="${1:-$root/../shared/data/mnist}"
bin="$root/target/release/fomoh"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for model in logreg mlp; do
  for ranks in 1 2 4; do
    mpirun --oversubscribe -n "$ranks" "$bin" train --distributed --quiet --data mnist --mnist "$mnist" \
      --model "$model" --optimizer fomoh-kd:8,fomoh-bp,sgd --batch 256 --epochs 1 --out "$out/$model-$ranks"
  done
done
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| model | P | ranks | optimizer | steps | step ms (wall) | collectives/step | bytes sent/step | bytes received/step | ms in collectives/step |")
print("|---|---|---|---|---|---|---|---|---|---|")
for d in sorted(os.listdir(out)):
    s = json.load(open(os.path.join(out, d, "summary.json")))
    wall = {o["optimizer"]: o["wall_seconds"] for o in s["optimizers"]}
    for r in s["distributed"]["runs"]:
        print(f"| {s['model']} | {s['parameters']} | {s['distributed']['ranks']} | {r['optimizer']} | {r['steps']} "
              f"| {1e3 * wall[r['optimizer']] / r['steps']:.2f} | {r['collectives_per_step']:.0f} "
              f"| {r['bytes_sent_per_step']:.0f} | {r['bytes_received_per_step']:.0f} "
              f"| {1e3 * r['collective_seconds_per_step']:.3f} |")
PY
for ranks in 1 2 4; do
  mpirun --oversubscribe -n "$ranks" "$root/target/release/examples/mpi_allgather" | { [ "$ranks" = 1 ] && cat || tail -n +3; }
done
