"""protxai_ray: distributed batch attribution for protein transformer classifiers.

Data flows one way: ``uniprot`` (parse) -> ``store`` (Parquet, local or S3) -> ``attribution``
(driven by ``pipeline`` in Ray actors) -> ``stats`` (DuckDB SQL) -> ``report``.
"""

__version__ = "0.1.0"
