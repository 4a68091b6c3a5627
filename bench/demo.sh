#!/usr/bin/env bash
# The demo job (`make demo`): real Complete Journey data end to end.
set -euo pipefail
JL=".venv/bin/journeylab"
OUT="${DEMO_OUT:-data}"
echo "== build the Complete Journey event log"
$JL datasets build completejourney --out "$OUT"
echo "== validate it against its public schema"
$JL validate --data "$OUT/completejourney/events.parquet"
echo "== split customers into train and holdout (seeded hash of the id)"
$JL split --data "$OUT/completejourney/events.parquet" --out "$OUT/completejourney/split"
echo "== describe the train split"
$JL datasets describe "$OUT/completejourney/split/train.parquet"
echo "== compare train with holdout (the reference every generator is measured against)"
$JL compare "$OUT/completejourney/split/holdout.parquet" "$OUT/completejourney/split/train.parquet" \
  --json "$OUT/completejourney/split/train_vs_holdout.json"
echo "== done: MLflow store in mlruns/ (mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db)"
