"""Churn, purchase and campaign-response predictors on real and synthetic journeys.

- labels.py      `make_labels(log, cutoff=, horizon=, task=)`: one function for every log
- features.py    `customer_features(log, cutoff=)`: the Customer-360 view before a cutoff
- models.py      registry `create(name, config)`: logreg, gbm, tree; `gru` in sequence.py
- bundle.py      `train_bundle(log, model=)`, `Bundle.save/load/predict`: a model folder
- evaluate.py    metrics, `evaluate_bundle`, `utility_table` (TRTR vs TSTR vs augmented)
- report.py      plots and MLflow runs;  scoring.py  `Scorer.update(event)`: real-time scores
- cli.py         `journeylab predict train|evaluate|utility|score`

Submodules are imported on use, so `import predictors` stays cheap.
"""
