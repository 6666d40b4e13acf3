"""Fixtures of the store tests: the whole main UniProt set ingested once into a local and an S3 store."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import pytest

from protxai_ray.store.fs import Store
from protxai_ray.uniprot.arrow import write_entries
from tests.conftest import UNIPROT_DATA

_counter = itertools.count()


def main_set_sources() -> list[str]:
    """Every file of the main set (index.tsv): xml, flat and json."""
    files = [*sorted((UNIPROT_DATA / "xml").glob("*.xml")), *sorted((UNIPROT_DATA / "flat").glob("*.dat"))]
    files += sorted((UNIPROT_DATA / "json").glob("*.json"))
    return [str(f) for f in files]


@dataclass
class IngestedStores:
    local: str
    s3: str
    collection: object
    release: str = "2024_01"


@pytest.fixture(scope="session")
def main_collection():
    from protxai_ray.uniprot.collect import collect_entries

    return collect_entries(main_set_sources())


@pytest.fixture(scope="session")
def ingested(seaweed, main_collection, tmp_path_factory) -> IngestedStores:
    """The main set written to a local store and to an S3 store (read them with ``s3_env`` set)."""
    bucket = f"protxai-store-{os.getpid()}-{next(_counter)}"
    seaweed.create_bucket(bucket)
    local = str(tmp_path_factory.mktemp("ingested") / "store")
    s3 = f"s3://{bucket}/store"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in seaweed.env().items():
            patch.setenv(key, value)
        for uri in (local, s3):
            write_entries(Store(uri), "2024_01", main_collection, sources=main_set_sources())
    return IngestedStores(local=local, s3=s3, collection=main_collection)
