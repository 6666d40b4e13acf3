"""The typed manifests of the store: ``RunManifest`` (``runs/run_id=ID/manifest.json``, with its
``ShardEntry`` list) and ``ReleaseManifest`` (``releases/release=R/_release.json``).

Every module reads manifests through these types (``RunManifests.read``, ``read_release_manifest``,
``RunManifest.from_dict``), never as raw dicts. ``from_dict`` validates: a manifest of the wrong shape is
one StoreError line naming the key at fault. ``to_dict`` gives the JSON object written to the store
(``fs.encode_json``: sorted keys), so the files stay byte-compatible with those written before the types
existed:

- keys this code does not know are kept in ``extra`` and written back unchanged;
- the keys every writer writes (``RUN_KEYS``, ``MODEL_KEYS``, ``SHARD_KEYS``, ``RELEASE_KEYS``) are always
  written (``null`` when unset); the others (``summary``, ``rerun``, a shard's ``failures``/``checks``/
  ``attempts``, a release's ``counts``...) only when set.

So ``RunManifest.from_dict(d).to_dict() == d`` for every manifest the pipeline, the re-run, the analyses
and ``write_release`` write (tests/store/test_manifest.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protxai_ray.errors import StoreError

RUN_KEYS = (
    "schema_version",
    "run_id",
    "release",
    "parent_run",
    "model",
    "target",
    "method",
    "code_version",
    "code",
    "started",
    "finished",
    "inputs",
    "fingerprint",
    "shards",
)
RUN_OPTIONAL = ("summary", "rerun")
MODEL_KEYS = ("path", "sha256", "label_names", "model_type", "num_layers", "num_heads")
SHARD_KEYS = ("shard", "proteins", "files")
SHARD_OPTIONAL = ("failures", "checks", "attempts")
CHECK_KEYS = ("bytes", "rows", "sha256")
RELEASE_KEYS = ("schema_version", "release", "generation", "files")
RELEASE_OPTIONAL = ("counts", "sources", "rejected", "ingests", "written")


class _Bad(Exception):
    """What is wrong (a path like ``shards[2].files``), turned into one StoreError line by ``from_dict``."""


def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is {_kind(value)}, not an object")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _str(value: Any, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where} is {_kind(value)}, not a string")
    return value


def _int(value: Any, where: str, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{where} is {_kind(value)}, not an integer")
    return value


def _dict(value: Any, where: str) -> dict | None:
    return None if value is None else dict(_obj(value, where))


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(f"{where} is {_kind(value)}, not a list")
    return tuple(_str(v, f"{where}[{i}]", optional=False) for i, v in enumerate(value))  # type: ignore[misc]


def _extra(d: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    known = set(known)
    return {k: v for k, v in d.items() if k not in known}


def _fail(what: str, source: str | None, exc: _Bad) -> StoreError:
    return StoreError(f"{source + ': ' if source else ''}corrupt {what} ({exc})")


# ---- run manifests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCheck:
    """Size, row count and SHA-256 of one committed Parquet file (``parquet.file_check``)."""

    bytes: int
    rows: int
    sha256: str

    @classmethod
    def from_dict(cls, d: Any, where: str = "check") -> FileCheck:
        d = _obj(d, where)
        missing = [k for k in CHECK_KEYS if k not in d]
        if missing:
            raise _Bad(f"{where} lacks {', '.join(missing)}")
        return cls(
            bytes=_int(d["bytes"], f"{where}.bytes", optional=False),  # type: ignore[arg-type]
            rows=_int(d["rows"], f"{where}.rows", optional=False),  # type: ignore[arg-type]
            sha256=_str(d["sha256"], f"{where}.sha256", optional=False),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "rows": self.rows, "sha256": self.sha256}


@dataclass(frozen=True)
class ShardEntry:
    """One committed shard: its id, proteins, failures, files (table -> path relative to the run
    directory), their ``checks``, ``attempts`` when retried; timings, worker, FLOPs and a reuse shard's
    ``reused_from`` are in ``extra``."""

    shard: str
    proteins: int = 0
    files: dict[str, str] = field(default_factory=dict)
    failures: int | None = None
    checks: dict[str, FileCheck] | None = None
    attempts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, where: str = "shard") -> ShardEntry:
        d = _obj(d, where)
        files = _obj(d.get("files") if d.get("files") is not None else {}, f"{where}.files")
        checks = d.get("checks")
        return cls(
            shard=_str(d.get("shard"), f"{where}.shard", optional=False),  # type: ignore[arg-type]
            proteins=_int(d.get("proteins", 0), f"{where}.proteins", optional=False),  # type: ignore[arg-type]
            files={str(t): _str(r, f"{where}.files.{t}", optional=False) for t, r in files.items()},  # type: ignore[misc]
            failures=_int(d.get("failures"), f"{where}.failures"),
            checks=None
            if checks is None
            else {
                str(t): FileCheck.from_dict(c, f"{where}.checks.{t}")
                for t, c in _obj(checks, f"{where}.checks").items()
            },
            attempts=_int(d.get("attempts"), f"{where}.attempts"),
            extra=_extra(d, SHARD_KEYS + SHARD_OPTIONAL),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "shard": self.shard,
            "proteins": self.proteins,
            "files": dict(self.files),
        }
        if self.failures is not None:
            out["failures"] = self.failures
        if self.checks is not None:
            out["checks"] = {t: c.to_dict() for t, c in self.checks.items()}
        if self.attempts is not None:
            out["attempts"] = self.attempts
        return out


@dataclass(frozen=True)
class ModelRecord:
    """The model a run used: its path as given, the weights' sha256, label names and shape."""

    path: str | None = None
    sha256: str | None = None
    label_names: tuple[str, ...] = ()
    model_type: str | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, where: str = "model") -> ModelRecord:
        d = _obj(d, where)
        return cls(
            path=_str(d.get("path"), f"{where}.path"),
            sha256=_str(d.get("sha256"), f"{where}.sha256"),
            label_names=_strs(d.get("label_names"), f"{where}.label_names"),
            model_type=_str(d.get("model_type"), f"{where}.model_type"),
            num_layers=_int(d.get("num_layers"), f"{where}.num_layers"),
            num_heads=_int(d.get("num_heads"), f"{where}.num_heads"),
            extra=_extra(d, MODEL_KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "path": self.path,
            "sha256": self.sha256,
            "label_names": list(self.label_names),
            "model_type": self.model_type,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
        }


@dataclass(frozen=True)
class RunManifest:
    """``runs/run_id=ID/manifest.json``: the commit point of a run (``store.runs.RunManifests``).

    ``method`` is ``AttributionSettings.as_dict()`` (or an analysis' method record), ``code`` is
    ``provenance.code_version()``, ``inputs`` the plan (proteins, shards, shard_size, where, accessions,
    plan_sha256), ``summary`` set by ``finish``, ``rerun`` the re-run block (``rerun.orchestrate``).
    """

    schema_version: str | None = None
    run_id: str | None = None
    release: str | None = None
    parent_run: str | None = None
    model: ModelRecord | None = None
    target: str | None = None
    method: dict[str, Any] | None = None
    code_version: str | None = None
    code: dict[str, Any] | None = None
    started: str | None = None
    finished: str | None = None
    inputs: dict[str, Any] | None = None
    fingerprint: str | None = None
    shards: tuple[ShardEntry, ...] = ()
    summary: dict[str, Any] | None = None
    rerun: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, source: str | None = None) -> RunManifest:
        """Validate and type ``d``; StoreError ``<source>: corrupt run manifest (<what>)`` otherwise."""
        try:
            d = _obj(d, "the manifest")
            shards = d.get("shards")
            if shards is not None and not isinstance(shards, list):
                raise _Bad(f"shards is {_kind(shards)}, not a list")
            model = d.get("model")
            return cls(
                schema_version=None if d.get("schema_version") is None else str(d["schema_version"]),
                run_id=_str(d.get("run_id"), "run_id"),
                release=_str(d.get("release"), "release"),
                parent_run=_str(d.get("parent_run"), "parent_run"),
                model=None if model is None else ModelRecord.from_dict(model),
                target=_str(d.get("target"), "target"),
                method=_dict(d.get("method"), "method"),
                code_version=_str(d.get("code_version"), "code_version"),
                code=_dict(d.get("code"), "code"),
                started=_str(d.get("started"), "started"),
                finished=_str(d.get("finished"), "finished"),
                inputs=_dict(d.get("inputs"), "inputs"),
                fingerprint=_str(d.get("fingerprint"), "fingerprint"),
                shards=tuple(ShardEntry.from_dict(s, f"shards[{i}]") for i, s in enumerate(shards or [])),
                summary=_dict(d.get("summary"), "summary"),
                rerun=_dict(d.get("rerun"), "rerun"),
                extra=_extra(d, RUN_KEYS + RUN_OPTIONAL),
            )
        except _Bad as exc:
            raise _fail("run manifest", source, exc) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "release": self.release,
            "parent_run": self.parent_run,
            "model": None if self.model is None else self.model.to_dict(),
            "target": self.target,
            "method": self.method,
            "code_version": self.code_version,
            "code": self.code,
            "started": self.started,
            "finished": self.finished,
            "inputs": self.inputs,
            "fingerprint": self.fingerprint,
            "shards": [s.to_dict() for s in self.shards],
        }
        if self.summary is not None:
            out["summary"] = self.summary
        if self.rerun is not None:
            out["rerun"] = self.rerun
        return out

    # -- what readers ask ----------------------------------------------------------------------------
    def shard_ids(self) -> set[str]:
        """Ids of the committed shards."""
        return {s.shard for s in self.shards}

    def files(self, table: str) -> list[str]:
        """Paths (relative to the run directory) of ``table``'s files of the committed shards."""
        return [s.files[table] for s in self.shards if s.files.get(table)]

    @property
    def failures(self) -> int:
        """Failed proteins of the committed shards."""
        return sum(s.failures or 0 for s in self.shards)

    @property
    def proteins(self) -> int:
        """Proteins of the committed shards."""
        return sum(s.proteins for s in self.shards)

    def with_shards(self, entries: Iterable[ShardEntry]) -> RunManifest:
        """This manifest plus ``entries`` not yet listed (an id already listed keeps its entry), sorted."""
        listed = self.shard_ids()
        new = []
        for entry in entries:
            if entry.shard not in listed:
                listed.add(entry.shard)
                new.append(entry)
        if not new:
            return self
        return replace(self, shards=tuple(sorted([*self.shards, *new], key=lambda s: s.shard)))


# ---- release manifests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseManifest:
    """``releases/release=R/_release.json``: the committed files of a release (``store.releases``)."""

    schema_version: str | None = None
    release: str | None = None
    generation: int = 0
    files: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, Any] | None = None
    sources: tuple[str, ...] | None = None
    rejected: int | None = None
    ingests: tuple[dict[str, Any], ...] | None = None
    written: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, source: str | None = None) -> ReleaseManifest:
        """Validate and type ``d``; StoreError ``<source>: corrupt release manifest (<what>)`` otherwise."""
        try:
            d = _obj(d, "the manifest")
            files = _obj(d.get("files") if d.get("files") is not None else {}, "files")
            ingests = d.get("ingests")
            if ingests is not None and not isinstance(ingests, list):
                raise _Bad(f"ingests is {_kind(ingests)}, not a list")
            return cls(
                schema_version=None if d.get("schema_version") is None else str(d["schema_version"]),
                release=_str(d.get("release"), "release"),
                generation=_int(d.get("generation", 0), "generation", optional=False),  # type: ignore[arg-type]
                files={str(t): list(_strs(rels, f"files.{t}")) for t, rels in files.items()},
                counts=_dict(d.get("counts"), "counts"),
                sources=None if d.get("sources") is None else _strs(d["sources"], "sources"),
                rejected=_int(d.get("rejected"), "rejected"),
                ingests=None
                if ingests is None
                else tuple(_obj(i, f"ingests[{n}]") for n, i in enumerate(ingests)),
                written=_str(d.get("written"), "written"),
                extra=_extra(d, RELEASE_KEYS + RELEASE_OPTIONAL),
            )
        except _Bad as exc:
            raise _fail("release manifest", source, exc) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "schema_version": self.schema_version,
            "release": self.release,
            "generation": self.generation,
            "files": {t: list(rels) for t, rels in self.files.items()},
        }
        optional = {
            "counts": self.counts,
            "sources": None if self.sources is None else list(self.sources),
            "rejected": self.rejected,
            "ingests": None if self.ingests is None else [dict(i) for i in self.ingests],
            "written": self.written,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out
