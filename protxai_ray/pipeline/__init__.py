"""Ray Data pipeline: a ``RunConfig`` becomes a stream of protein shards through model-pinning actors.

Public surface: ``RunConfig``, ``run_attribution(config) -> RunSummary``, ``new_run_id()``. The engine
(``protxai_ray.attribution``) and the store never import Ray; only ``run.stream_shards`` and
``cluster`` do.
"""

from protxai_ray.pipeline.config import RunConfig, new_run_id
from protxai_ray.pipeline.run import RunSummary, run_attribution

__all__ = ["RunConfig", "RunSummary", "new_run_id", "run_attribution"]
