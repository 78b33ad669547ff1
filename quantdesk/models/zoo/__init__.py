"""The model zoo: one module per family (baselines, scikit-learn, boosting, networks,
ensembles). Each model registers in :data:`quantdesk.models.base.MODELS`."""
