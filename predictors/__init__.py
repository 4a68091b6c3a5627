"""Churn, purchase and campaign-response predictors on real and synthetic journeys.

- labels.py      `make_labels(log, cutoff=, horizon=, task=)`: one function for every log
- features.py    `customer_features(log, cutoff=)`: the Customer-360 view before a cutoff
- models.py      registry `create(name, config)`: logreg, gbm, tree; `gru` in sequence.py
- bundle.py      `train_bundle(log, model=)`, `Bundle.save/load/predict`: a model folder
- evaluate.py    metrics, `evaluate_bundle`, `utility_table` (TRTR vs TSTR vs augmented)
- batch.py       `score_log`: a whole log's scores, chunk by chunk (a partitioned folder too)
- at_scale.py    training and TSTR on a seeded subsample of a partitioned log
- report.py      plots and MLflow runs;  scoring.py  `Scorer.update(event)`: real-time scores
- cli.py         `journeylab predict train|evaluate|utility|score` (score: score_cli.py)

Submodules are imported on use, so `import predictors` stays cheap.
"""
