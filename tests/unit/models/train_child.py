"""Child of ``test_train_sigkill``: trains ``linear`` into the registry, again and again.

``python -m tests.unit.models.train_child DB MODEL_DIR N`` trains N versions
(promoting each one that beats the baselines), printing ``trained V`` after each,
so the parent can kill it at any moment of a training run.
"""

from __future__ import annotations

import sys

from quantdesk.models import service
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage import open_store
from quantdesk.storage.sql import engine_for


def main(db: str, model_dir: str, n: int) -> None:
    url = f"sqlite:///{db}"
    store = open_store(url)
    registry = ModelRegistry(engine_for(url), model_dir)
    for i in range(n):
        result = service.train(
            store, registry, "linear", params={"alpha": 1.0 + i}, holdout_days=10, promote=True
        )
        print(f"trained {result.row.version}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
