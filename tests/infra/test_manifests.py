"""The KubeRay / Kubernetes manifests in infra/: they parse, carry what a deploy needs, validate against
the KubeRay v1 CRD subset in kuberay_v1_schema.json, and the job entrypoints they name exist and accept
their arguments."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
SCHEMA = json.loads((Path(__file__).parent / "kuberay_v1_schema.json").read_text())
IMAGE_IN_REPO = "/app/"  # the image holds this repository at /app (infra/README.md)


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(INFRA.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCS = _documents()


def _of_kind(kind: str) -> list[dict]:
    return [doc for _, doc in DOCS if doc["kind"] == kind]


def _rayjob_specs() -> list[tuple[str, dict]]:
    """Every RayJob spec: RayJob objects, RayCronJob templates, and RayJobs inside ConfigMaps."""
    specs = [("RayJob " + d["metadata"]["name"], d["spec"]) for d in _of_kind("RayJob")]
    specs += [
        ("RayCronJob " + d["metadata"]["name"], d["spec"]["jobTemplate"]) for d in _of_kind("RayCronJob")
    ]
    for cm in _of_kind("ConfigMap"):
        for key, text in cm.get("data", {}).items():
            inner = yaml.safe_load(text)
            if isinstance(inner, dict) and inner.get("kind") == "RayJob":
                specs.append((f"ConfigMap {cm['metadata']['name']}/{key}", inner["spec"]))
    return specs


def _pod_templates(cluster_spec: dict) -> list[dict]:
    return [cluster_spec["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster_spec.get("workerGroupSpecs", [])
    ]


def test_every_file_parses_and_names_its_kind():
    assert {p.name for p in INFRA.glob("*.yaml")} >= {
        "raycluster.yaml",
        "rayjob-attribute.yaml",
        "raycronjob-rerun.yaml",
        "cronjob-rerun-fallback.yaml",
        "secret-s3.example.yaml",
        "pvc-models.yaml",
    }
    kinds = {doc["kind"] for _, doc in DOCS}
    assert kinds >= {
        "RayCluster",
        "RayJob",
        "RayCronJob",
        "CronJob",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Role",
    }
    for name, doc in DOCS:
        assert (
            doc.get("apiVersion")
            and doc.get("metadata", {}).get("name")
            or doc["metadata"].get("generateName")
        ), name


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob", "RayCronJob"])
def test_ray_objects_validate_against_kuberay_schema(kind):
    schema = {"definitions": SCHEMA["definitions"], **SCHEMA["kinds"][kind]}
    objects = _of_kind(kind)
    assert objects
    for obj in objects:
        jsonschema.validate(obj, schema)
    for cm in _of_kind("ConfigMap"):  # the fallback's RayJob too
        for text in cm.get("data", {}).values():
            inner = yaml.safe_load(text)
            if isinstance(inner, dict) and inner.get("kind") == kind:
                jsonschema.validate(inner, schema)


def test_schema_catches_a_misspelt_field():
    schema = {"definitions": SCHEMA["definitions"], **SCHEMA["kinds"]["RayCronJob"]}
    bad = json.loads(json.dumps(_of_kind("RayCronJob")[0]))
    bad["spec"]["shedule"] = bad["spec"].pop("schedule")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_gpu_workers_model_volume_and_s3_secret():
    secret_names = {d["metadata"]["name"] for d in _of_kind("Secret")}
    pvc_names = {d["metadata"]["name"] for d in _of_kind("PersistentVolumeClaim")}
    cluster_specs = [d["spec"] for d in _of_kind("RayCluster")] + [
        s["rayClusterSpec"] for _, s in _rayjob_specs()
    ]
    assert len(cluster_specs) >= 4
    for spec in cluster_specs:
        assert spec["workerGroupSpecs"], "a GPU worker group"
        for group in spec["workerGroupSpecs"]:
            (container,) = group["template"]["spec"]["containers"]
            resources = container["resources"]
            assert (
                int(resources["limits"]["nvidia.com/gpu"])
                == 1
                == int(resources["requests"]["nvidia.com/gpu"])
            )
        for template in _pod_templates(spec):
            pod = template["spec"]
            for container in pod["containers"]:
                refs = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
                assert refs and refs <= secret_names, "S3 credentials from the Secret"
                assert "env" not in container or not any("AWS_SECRET" in e["name"] for e in container["env"])
                mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
                assert mounts["models"]["readOnly"] is True and mounts["models"]["mountPath"] == "/models"
            claims = {
                v["persistentVolumeClaim"]["claimName"]
                for v in pod["volumes"]
                if "persistentVolumeClaim" in v
            }
            assert claims and claims <= pvc_names


def test_secret_template_holds_no_credentials():
    (secret,) = _of_kind("Secret")
    data = secret["stringData"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"} <= set(data)
    assert data["AWS_ACCESS_KEY_ID"] == data["AWS_SECRET_ACCESS_KEY"] == "REPLACE_ME"


def _load_job(script: Path):
    spec = importlib.util.spec_from_file_location(f"job_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entrypoints_exist_and_accept_their_arguments():
    seen: dict[Path, set[str]] = {}
    for where, spec in _rayjob_specs():
        argv = shlex.split(spec["entrypoint"])
        assert argv[0] == "python" and argv[1].startswith(IMAGE_IN_REPO), where
        script = PROJECT_ROOT / argv[1][len(IMAGE_IN_REPO) :]
        assert script.is_file(), f"{where}: {script} is not in the repo"
        module = _load_job(script)
        assert callable(module.run) and callable(module.main)
        args = module.create_parser().parse_args(argv[2:])  # SystemExit (a test error) on unknown flags
        assert args.store.startswith("s3://")
        seen.setdefault(script, set()).update(a.split("=")[0] for a in argv[2:] if a.startswith("--"))
    assert {p.name for p in seen} == {"attribute.py", "rerun_release.py"}
    for script, flags in seen.items():  # and the script's own --help lists every flag we use
        out = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        assert all(flag in out for flag in flags), (script.name, flags)


def test_scheduled_rayjob_is_the_same_in_raycronjob_and_fallback():
    (cron,) = _of_kind("RayCronJob")
    (fallback_cm,) = [cm for cm in _of_kind("ConfigMap") if "rayjob-rerun.yaml" in cm.get("data", {})]
    fallback = yaml.safe_load(fallback_cm["data"]["rayjob-rerun.yaml"])
    assert fallback["spec"] == cron["spec"]["jobTemplate"]
    (cronjob,) = _of_kind("CronJob")
    assert cronjob["spec"]["schedule"] == cron["spec"]["schedule"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["kubectl", "create", "-f"]
    mount = container["volumeMounts"][0]["mountPath"]
    assert container["command"][3] == f"{mount}/rayjob-rerun.yaml"
    assert pod["volumes"][0]["configMap"]["name"] == fallback_cm["metadata"]["name"]
    # The service account may create RayJobs, and nothing else.
    (role,) = _of_kind("Role")
    (binding,) = _of_kind("RoleBinding")
    assert (
        binding["subjects"][0]["name"] == pod["serviceAccountName"]
        and binding["roleRef"]["name"] == role["metadata"]["name"]
    )
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["ray.io"] and rule["resources"] == ["rayjobs"] and "create" in rule["verbs"]
    assert fallback["metadata"].get("generateName"), "kubectl create needs a fresh name per run"


def _ray_containers() -> list[tuple[str, dict]]:
    """Every container that runs Ray or talks to it: heads, workers and RayJob submitters."""
    out = []
    cluster_specs = [("RayCluster " + d["metadata"]["name"], d["spec"]) for d in _of_kind("RayCluster")]
    for where, spec in _rayjob_specs():
        cluster_specs.append((where, spec["rayClusterSpec"]))
        submitter = spec.get("submitterPodTemplate")
        assert submitter, f"{where}: a submitter pod that carries the Ray token"
        out += [(f"{where} submitter", c) for c in submitter["spec"]["containers"]]
    for where, spec in cluster_specs:
        for template in _pod_templates(spec):
            out += [(where, c) for c in template["spec"]["containers"]]
    return out


def test_every_ray_container_uses_token_auth_from_a_secret():
    containers = _ray_containers()
    assert len(containers) >= 11  # RayCluster head + workers; 3 RayJob specs x (head, workers, submitter)
    for where, container in containers:
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["RAY_AUTH_MODE"].get("value") == "token", where
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "protxai-ray-token", "key": "auth_token"}, where
        assert "value" not in env["RAY_AUTH_TOKEN"], where


def test_no_ray_client_port_and_no_credentials_on_documented_command_lines():
    for cluster in _of_kind("RayCluster"):
        ports = {
            p["containerPort"]
            for p in cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]
        }
        assert 10001 not in ports, "Ray Client does not run the pipeline (infra/README.md)"
    texts = [p.read_text() for p in INFRA.glob("*")]
    for text in texts:
        assert "--from-literal=AWS_SECRET" not in text and "--from-literal=auth_token" not in text
