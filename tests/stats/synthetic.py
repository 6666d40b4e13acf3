"""A synthetic store for the stats tests: a release (proteins, annotations) and one run (predictions,
residues, heads) written in the store layout with real manifests, so ``protxai_ray.store.duck.connect``
reads it like a real one (local directory or s3://).

Planted signal: head (PLANTED_LAYER, PLANTED_HEAD) and the embedding get +SIGNAL relevance inside
``active_site`` ranges; every other head is Gaussian noise. With ``composition=True`` the transmembrane
ranges are made of hydrophobic residues (80 %) and head (COMPOSITION_LAYER, COMPOSITION_HEAD) carries a
relevance that depends only on residue identity (1 for F M W I V L P A, 0 otherwise, plus small noise):
correlated with transmembrane through composition alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from protxai_ray.store.fs import Store, open_store
from protxai_ray.store.parquet import write_parquet_atomic
from protxai_ray.store.schemas import ANNOTATIONS, HEADS, PREDICTIONS, PROTEINS, RESIDUES

AMINO_ACIDS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
PLANTED_LAYER, PLANTED_HEAD, SIGNAL = 1, 2, 1.5
COMPOSITION_LAYER, COMPOSITION_HEAD = 0, 0
HYDROPHOBIC = np.array(list("FMWIVLPA"))


@dataclass
class SyntheticRun:
    store: Store
    run_id: str
    release: str
    proteins: pa.Table
    annotations: pa.Table
    predictions: pa.Table
    residues: pa.Table
    heads: pa.Table


def _annotation_rows(rng: np.random.Generator, accession: str, length: int, index: int) -> list[dict]:
    rows = []

    def add(kind: str, start: int, end: int) -> None:
        rows.append(
            {
                "accession": accession,
                "feature_type": kind,
                "start": start,
                "end": end,
                "description": None,
                "ligand": None,
            }
        )

    for _ in range(int(rng.integers(1, 4))):  # active sites: single residues or short ranges
        start = int(rng.integers(1, length - 3))
        add("active_site", start, start + int(rng.integers(0, 3)))
    if index % 2 == 0:
        start = int(rng.integers(1, length - 8))
        add("binding_site", start, start + 6)
    if index % 3 == 0:
        start = int(rng.integers(1, length - 21))
        add("transmembrane", start, start + 19)
    return rows


def write_synthetic_run(
    uri: str,
    *,
    n_proteins: int = 24,
    layers: int = 3,
    heads: int = 4,
    classes: tuple[str, ...] = ("EC 1", "EC 2"),
    seed: int = 0,
    run_id: str = "run-synthetic",
    release: str = "2024_01",
    with_heads: bool = True,
    quantum: float | None = None,
    composition: bool = False,
    planted: bool = True,
    tolerance: float | None = None,
    unconverged: int = 0,
) -> SyntheticRun:
    """Write the synthetic release and run into the store at ``uri``; returns the tables written.

    ``tolerance``: record the run as ``steps="auto"`` with this head-error goal; every protein gets
    ``head_error`` 0.002, except the first ``unconverged`` ones, which get 0.05.
    ``quantum`` rounds every relevance to a multiple of it (ties within a protein's track).
    ``planted=False`` leaves out the planted active-site signal (same release, same noise otherwise).
    """
    store = open_store(uri)
    rng = np.random.default_rng(seed)
    proteins, annotations, predictions, residues, head_parts = [], [], [], [], []
    for index in range(n_proteins):
        accession = f"P{index:05d}"
        length = int(rng.integers(40, 90))
        residues_drawn = rng.choice(AMINO_ACIDS, length)
        rows = _annotation_rows(rng, accession, length, index)
        if composition:
            for row in rows:
                if row["feature_type"] == "transmembrane":
                    span = slice(row["start"] - 1, row["end"])
                    size = len(residues_drawn[span])
                    residues_drawn[span] = np.where(
                        rng.random(size) < 0.8, rng.choice(HYDROPHOBIC, size), residues_drawn[span]
                    )
        sequence = "".join(residues_drawn)
        crc64 = f"{index:016X}"
        cls = classes[index % len(classes)]
        proteins.append(
            {
                "accession": accession,
                "entry_name": f"SYN{index}_HUMAN",
                "reviewed": True,
                "entry_version": 1,
                "sequence_version": 1,
                "crc64": crc64,
                "length": length,
                "sequence": sequence,
                "organism": "synthetic",
                "ec": [cls],
                "go": [],
            }
        )
        annotations += rows
        active = np.zeros(length + 2)
        for row in rows:
            if row["feature_type"] == "active_site":
                active[row["start"] : row["end"] + 1] = 1.0
        positions = np.arange(length + 2, dtype=np.int32)
        signal = SIGNAL if planted else 0.0
        embedding = rng.normal(size=length + 2) + signal * active
        residues.append(
            pa.table(
                {
                    "accession": [accession] * (length + 2),
                    "crc64": [crc64] * (length + 2),
                    "position": positions,
                    "residue": ["[CLS]", *sequence, "[SEP]"],
                    "relevance": embedding.astype(np.float32),
                }
            )
        )
        conductance = rng.normal(size=(layers, heads, length + 2))
        conductance[PLANTED_LAYER, PLANTED_HEAD] += signal * active
        if composition:
            is_hydrophobic = np.isin(np.array(["", *sequence, ""]), HYDROPHOBIC).astype(float)
            conductance[COMPOSITION_LAYER, COMPOSITION_HEAD] = is_hydrophobic + 0.1 * rng.normal(
                size=length + 2
            )
        if quantum:
            conductance = np.round(conductance / quantum) * quantum
            embedding = np.round(embedding / quantum) * quantum
        grid_layer, grid_head, grid_position = np.meshgrid(
            np.arange(layers), np.arange(heads), positions, indexing="ij"
        )
        size = conductance.size
        head_parts.append(
            pa.table(
                {
                    "accession": [accession] * size,
                    "crc64": [crc64] * size,
                    "layer": grid_layer.ravel().astype(np.int16),
                    "head": grid_head.ravel().astype(np.int16),
                    "position": grid_position.ravel().astype(np.int32),
                    "relevance": conductance.ravel().astype(np.float32),
                }
            )
        )
        predictions.append(
            {
                "accession": accession,
                "crc64": crc64,
                "target_index": classes.index(cls),
                "target_name": cls,
                "logit": 1.0,
                "baseline_logit": 0.0,
                "probability": 0.7,
                "ig_sum": 1.0,
                "convergence_delta": 0.01,
                "n_steps": 32,
                "head_error": None if tolerance is None else (0.05 if index < unconverged else 0.002),
            }
        )

    def with_run(table: pa.Table) -> pa.Table:
        return table.add_column(0, "run_id", pa.array([run_id] * table.num_rows, pa.string()))

    proteins_t = pa.Table.from_pylist([{"release": release, **p} for p in proteins], schema=PROTEINS)
    annotations_t = pa.Table.from_pylist([{"release": release, **a} for a in annotations], schema=ANNOTATIONS)
    predictions_t = with_run(pa.Table.from_pylist(predictions)).cast(PREDICTIONS)
    residues_t = with_run(pa.concat_tables(residues)).cast(RESIDUES)
    heads_t = with_run(pa.concat_tables(head_parts)).cast(HEADS)
    if not with_heads:
        heads_t = heads_t.slice(0, 0)

    base = f"releases/release={release}"
    write_parquet_atomic(store, f"{base}/proteins/part-0.parquet", proteins_t, PROTEINS)
    write_parquet_atomic(store, f"{base}/annotations/part-0.parquet", annotations_t, ANNOTATIONS)
    store.write_json_atomic(
        f"{base}/_release.json",
        {
            "schema_version": "1",
            "release": release,
            "generation": 1,
            "files": {"proteins": ["proteins/part-0.parquet"], "annotations": ["annotations/part-0.parquet"]},
        },
    )
    run_base = f"runs/run_id={run_id}"
    files, checks = {}, {}
    for name, table, schema in (
        ("predictions", predictions_t, PREDICTIONS),
        ("residues", residues_t, RESIDUES),
        ("heads", heads_t, HEADS),
    ):
        files[name] = f"{name}/shard-00000.parquet"
        checks[name] = write_parquet_atomic(store, f"{run_base}/{files[name]}", table, schema)
    store.write_json_atomic(
        f"{run_base}/manifest.json",
        {
            "schema_version": "1",
            "run_id": run_id,
            "release": release,
            "model": {"path": "synthetic", "sha256": "0" * 64, "label_names": list(classes)},
            "target": "label",
            "method": {"name": "synthetic"} if tolerance is None else {"steps": "auto", "tolerance": tolerance},
            "code_version": "test",
            "started": None,
            "finished": None,
            "parent_run": None,
            "shards": [{"shard": "00000", "proteins": n_proteins, "files": files, "checks": checks}],
        },
    )
    return SyntheticRun(store, run_id, release, proteins_t, annotations_t, predictions_t, residues_t, heads_t)
