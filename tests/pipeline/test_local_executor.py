"""``executor="local"``: the same driver (plan, commits, manifest checks) without Ray gives the rows an
actor pool gives."""

from __future__ import annotations

from protxai_ray.pipeline import run_attribution
from protxai_ray.store.runs import RunManifests
from protxai_ray.store.verify import verify_run
from tests.pipeline.conftest import assert_same_rows, base_config, run_rows


def test_local_executor_matches_the_actor_pool(reference_run, release_store, model_dir):
    config, reference_summary = reference_run
    local = base_config(release_store, model_dir, "local-executor", executor="local", ray_address=None)
    summary = run_attribution(local)
    assert summary.proteins == reference_summary.proteins and summary.failures == reference_summary.failures
    assert_same_rows(release_store, "local-executor", run_rows(release_store, config.run_id))
    manifest = RunManifests(release_store).read("local-executor")
    assert manifest.finished and all(s.checks for s in manifest.shards)
    assert verify_run(RunManifests(release_store).store, "local-executor", manifest) == []
