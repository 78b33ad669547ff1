"""Predictions: the model interface, data sets, the model zoo, evaluation and versions.

================================  ==========================================================
module                            what it holds
================================  ==========================================================
:mod:`quantdesk.models.base`      the :class:`Model` interface, the ``MODELS`` registry,
                                  artifact files
:mod:`quantdesk.models.datasets`  ``morning`` and ``daily`` data sets from stored bars,
                                  the random / planted controls, real sample data
:mod:`quantdesk.models.zoo`       baselines, scikit-learn, boosting, networks, ensembles
:mod:`quantdesk.models.evaluation` walk-forward evaluation beside the baselines
:mod:`quantdesk.models.tuning`    Optuna search over purged walk-forward folds
:mod:`quantdesk.models.registry`  versions and aliases (champion / challenger),
                                  the :class:`Predictor` that serves the champion
:mod:`quantdesk.models.service`   train / predict as the CLI and the jobs run them
:mod:`quantdesk.models.jobs`      the scheduled jobs' predictor, trainer and version pruner
================================  ==========================================================

Nothing heavy is imported here: PyTorch, scikit-learn and the boosting
libraries load only when a model that needs them is used.
"""
