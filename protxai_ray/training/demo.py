"""One entry point for the demo-model trainings: ``train_demo(task, out, shuffled, epochs, seed)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from protxai_ray.errors import ProtxaiError
from protxai_ray.training.data import check_training_data
from protxai_ray.training.ec import train_ec_demo
from protxai_ray.training.membrane import DEMO_MODELS, train_membrane_demo

TASKS = ("membrane", "ec")
DEFAULT_EPOCHS = {"membrane": 5, "ec": 12}


def train_demo(
    task: str = "membrane",
    out_dir: str | Path | None = None,
    shuffled: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train one demo model into ``out_dir`` (default ``protxai_ray/demo_models/<name>``) on ``data_dir``
    (``tmbed/cv/`` folds and ``uniprot/``, not shipped with the package); returns metrics."""
    data_dir = check_training_data(data_dir, tmbed=task == "membrane")
    epochs = epochs or DEFAULT_EPOCHS[task]
    if task == "membrane":
        return train_membrane_demo(
            out_dir, shuffled=shuffled, epochs=epochs, seed=seed, data_dir=data_dir, log=log
        )
    if task == "ec":
        if shuffled:
            raise ProtxaiError("train-demo: --shuffled is only defined for the membrane task")
        out = Path(out_dir) if out_dir else DEMO_MODELS / "ec"
        return train_ec_demo(out, data_dir / "uniprot", epochs=epochs, seed=seed, log=log)
    raise ProtxaiError(f"train-demo: unknown task {task!r} (choose from {', '.join(TASKS)})")
