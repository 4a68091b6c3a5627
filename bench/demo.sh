#!/usr/bin/env bash
# The demo job (`make demo`): real Complete Journey data end to end.
# DEMO_OUT (default data/) holds the files; DEMO_EPOCHS sets the generator's training length.
set -euo pipefail
JL=".venv/bin/journeylab"
OUT="${DEMO_OUT:-data}"
EPOCHS="${DEMO_EPOCHS:-8}"
CJ="$OUT/completejourney"
echo "== build the Complete Journey event log"
$JL datasets build completejourney --out "$OUT"
echo "== validate it against its public schema"
$JL validate --data "$CJ/events.parquet"
echo "== split customers into train and holdout (seeded hash of the id)"
$JL split --data "$CJ/events.parquet" --out "$CJ/split"
echo "== describe the train split"
$JL datasets describe "$CJ/split/train.parquet"
echo "== compare train with holdout (the reference every generator is measured against)"
$JL compare "$CJ/split/holdout.parquet" "$CJ/split/train.parquet" --json "$CJ/train_vs_holdout.json"
echo "== fit a DP VAE on train (epsilon 8, customer-level DP-SGD, budget recorded in the ledger)"
# the smaller network DP-SGD prefers (README, "Defaults"); the journey profile takes 25% of
# epsilon and gets lengths, calendar time and per-journey constants right from the start
$JL fit --data "$CJ/split/train.parquet" --model vae --epsilon 8 --epochs "$EPOCHS" \
  --config d_model=48 --config n_layers=4 --out "$CJ/vae-eps8"
echo "== sample a synthetic log (sampling a DP model costs no extra budget)"
$JL sample --model-dir "$CJ/vae-eps8" -n 1200 -o "$CJ/synthetic-vae-eps8.parquet"
echo "== fidelity of the synthetic log against the holdout"
$JL compare "$CJ/split/holdout.parquet" "$CJ/synthetic-vae-eps8.parquet" \
  --reference "$CJ/split/train.parquet" --json "$CJ/synthetic_vs_holdout.json"
echo "== churn and purchase predictors: TRTR against TSTR on the real holdout"
$JL predict utility --train "$CJ/split/train.parquet" --holdout "$CJ/split/holdout.parquet" \
  --synthetic "vae-eps8=$CJ/synthetic-vae-eps8.parquet" --model logreg --model gbm \
  --task churn --task purchase --json "$CJ/utility.json"
echo "== the privacy ledger of the dataset"
$JL privacy ledger
echo "== done in ${SECONDS} s: the MLflow store is in mlruns/; browse it with:"
echo "   .venv/bin/journeylab app      (then open http://127.0.0.1:8501)"
