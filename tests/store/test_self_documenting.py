"""The store documents itself: column descriptions in every schema and every written file, docs/store.md
generated from the schemas, and the README's reading snippets run as written.

The README snippets are taken from the README itself (the ```python blocks of the sections "Query from
DuckDB, pandas or polars without protxai" and "Python API in a notebook"); only their ``STORE = ...``,
``RUN = ...`` and ``ACCESSION = ...`` lines are pointed at a synthetic store (local, or on SeaweedFS).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from protxai_ray.stats.run import compute_stats
from protxai_ray.store.fs import open_store
from protxai_ray.store.parquet import write_parquet_atomic
from protxai_ray.store.schema_doc import generated_section, render_tables
from protxai_ray.store.schemas import ALL_TABLES, DESCRIPTION, descriptions
from tests.stats.synthetic import write_synthetic_run

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STORE_DOC = ROOT / "docs" / "store.md"
QUERY_SECTION = "Query from DuckDB, pandas or polars without protxai"
NOTEBOOK_SECTION = "Python API in a notebook"
LAYERS, HEADS, PROTEINS = 2, 3, 9


# ---- descriptions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(ALL_TABLES))
def test_every_field_has_a_description(table):
    schema = ALL_TABLES[table]
    texts = descriptions(schema)
    assert set(texts) == set(schema.names)
    empty = [name for name, text in texts.items() if len(text.strip()) < 10]
    assert not empty, f"{table}: no description for {empty}"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("self-documenting")
    run = write_synthetic_run(str(root), n_proteins=PROTEINS, layers=LAYERS, heads=HEADS, tolerance=0.01)
    compute_stats(str(root), run.run_id)
    return root, run


@pytest.mark.parametrize("table", [t for t in ALL_TABLES if t != "runs"])
def test_a_written_file_carries_the_descriptions(tmp_path, table):
    schema = ALL_TABLES[table]
    write_parquet_atomic(open_store(str(tmp_path)), f"{table}.parquet", schema.empty_table(), schema)
    back = pq.read_schema(tmp_path / f"{table}.parquet")
    assert back.names == schema.names
    for field in schema:
        assert back.field(field.name).metadata[DESCRIPTION] == field.metadata[DESCRIPTION], field.name
    assert back.metadata[b"protxai.schema_version"] == b"1"


def test_files_written_by_the_store_carry_the_descriptions(local_run):
    """Shards as the synthetic run writes them and the stats tables compute_stats writes."""
    root, _ = local_run
    seen = set()
    for path in root.rglob("*.parquet"):
        parts = path.relative_to(root).parts
        table = parts[parts.index("stats") + 1] if "stats" in parts else parts[-2]
        schema = pq.read_schema(path)
        assert descriptions(schema) == descriptions(ALL_TABLES[table]), path
        seen.add(table)
    assert seen == {"proteins", "annotations", "predictions", "residues", "heads"} | {
        t for t in ALL_TABLES if t.endswith(("_scores", "_enrichment", "_positivity"))
    }


def test_docs_store_md_lists_every_column_as_the_schemas_say():
    document = STORE_DOC.read_text()
    assert generated_section(document) == render_tables().strip("\n"), (
        "docs/store.md is stale: python -m protxai_ray.store.schema_doc --write docs/store.md"
    )
    for table, schema in ALL_TABLES.items():
        section = document.split(f"### `{table}`\n", 1)[1].split("\n### ", 1)[0]
        for name in schema.names:
            assert f"| `{name}` |" in section, f"docs/store.md: {table}.{name} missing"


# ---- README snippets -------------------------------------------------------------------------------


def readme_blocks(title: str) -> list[str]:
    """The ```python blocks of README section ``## title``, in order."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert blocks, f"README section {title!r} has no python block"
    return blocks


def pointed_at(code: str, **values: str) -> str:
    """``code`` with its ``NAME = ...`` lines set to ``values`` (each must be there)."""
    for name, value in values.items():
        code, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, flags=re.M)
        assert count == 1, f"README snippet has no single line {name} = ..."
    return code


def run_block(code: str, namespace: dict, where: str) -> dict:
    exec(compile(code, f"README.md ({where})", "exec"), namespace)  # the README's own code
    return namespace


def query_blocks() -> tuple[list[str], list[str], list[str]]:
    """(local, polars, S3) blocks of the query section."""
    local, polars, s3 = [], [], []
    for block in readme_blocks(QUERY_SECTION):
        if "CREATE SECRET" in block:
            s3.append(block)
        elif "import polars" in block:
            polars.append(block)
        else:
            local.append(block)
    assert len(local) == 1 and len(polars) == 1 and len(s3) == 1
    return local, polars, s3


def test_readme_local_query_snippet_runs(local_run):
    root, run = local_run
    (local,), _, _ = query_blocks()
    ns = run_block(pointed_at(local, STORE=str(root), RUN=run.run_id), {}, QUERY_SECTION)
    assert ns["top"].shape[0] == 5 and list(ns["top"].columns) == ["layer", "head", "mean_relevance"]
    assert len(ns["predictions_df"]) == PROTEINS
    assert len(ns["enrichment"]) > 0 and "p_adj" in ns["enrichment"].columns
    # the same numbers as protxai's own views
    from protxai_ray.store.duck import connect

    con = connect(str(root))
    want = con.execute(
        """SELECT h.layer, h.head, avg(h.relevance) FROM heads AS h JOIN annotations AS a
           ON a.accession = h.accession AND h.position BETWEEN a.start AND a."end"
           WHERE a.feature_type = 'transmembrane' GROUP BY ALL ORDER BY 3 DESC LIMIT 5"""
    ).fetchall()
    got = [tuple(r) for r in ns["top"].itertuples(index=False)]
    assert [(int(layer), int(head)) for layer, head, _ in got] == [(layer, head) for layer, head, _ in want]
    assert [mean for _, _, mean in got] == pytest.approx([mean for _, _, mean in want])


def test_readme_polars_snippet_runs(local_run):
    pytest.importorskip("polars", reason="polars is not installed (not a protxai_ray dependency)")
    root, run = local_run
    (local,), (polars,), _ = query_blocks()
    ns = run_block(pointed_at(local, STORE=str(root), RUN=run.run_id), {}, QUERY_SECTION)
    ns = run_block(polars, ns, QUERY_SECTION)
    assert ns["heads_pl"].height == run.heads.num_rows


def test_readme_s3_duckdb_snippet_runs(s3_store, s3_env):
    run = write_synthetic_run(s3_store, n_proteins=4, layers=LAYERS, heads=HEADS)
    _, _, (s3,) = query_blocks()
    assert "INSTALL" not in s3.replace("never `INSTALL", "")  # loaded offline only
    ns = run_block(pointed_at(s3, STORE=s3_store, RUN=run.run_id), {}, QUERY_SECTION)
    per_head = ns["per_head"]
    assert len(per_head) == LAYERS * HEADS
    totals = run.heads.group_by(["layer", "head"]).aggregate([("relevance", "sum")])
    want = {(r["layer"], r["head"]): r["relevance_sum"] for r in totals.to_pylist()}
    got = {(int(r.layer), int(r.head)): r.total for r in per_head.itertuples(index=False)}
    assert got == pytest.approx(want, rel=1e-5)
    secrets = ns["con"].execute("SELECT secret_string FROM duckdb_secrets()").fetchall()
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in str(secrets)


def test_readme_notebook_snippet_runs(local_run, monkeypatch):
    root, run = local_run
    monkeypatch.chdir(ROOT)  # the snippet loads the shipped demo model by its repository path
    (block,) = readme_blocks(NOTEBOOK_SECTION)
    accession = run.predictions.column("accession")[0].as_py()
    ns = run_block(
        pointed_at(block, STORE=str(root), RUN=run.run_id, ACCESSION=accession), {}, NOTEBOOK_SECTION
    )
    mine = ns["mine"]
    length = len("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ")
    assert mine.residues.shape == (length + 2,) and mine.heads.shape[2] == length + 2
    assert mine.n_steps == 32
    length_stored = run.proteins.filter(pc.equal(run.proteins["accession"], accession))["length"][0]
    assert ns["track"].shape == (LAYERS * HEADS, length_stored.as_py() + 2)
