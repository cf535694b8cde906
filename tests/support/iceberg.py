"""A real Iceberg catalog for the tests: pyiceberg's SQL catalog over a SQLite file, with a local warehouse.

Tables are written here with pyiceberg directly, independently of the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog


def local_catalog(root: Path, name: str = "lake") -> Catalog:
    """The catalog a project's ``sqlite:///iceberg/catalog.db`` + ``iceberg/warehouse`` settings point at."""
    (root / "iceberg" / "warehouse").mkdir(parents=True, exist_ok=True)
    return load_catalog(
        name,
        type="sql",
        uri=f"sqlite:///{root / 'iceberg' / 'catalog.db'}",
        warehouse=(root / "iceberg" / "warehouse").as_uri(),
    )


def write_table(catalog: Catalog, identifier: str, rows: pa.Table, *, overwrite: bool = False) -> int:
    """Create ``namespace.table`` when needed and append (or overwrite) ``rows``; returns the new snapshot id."""
    namespace = identifier.split(".")[0]
    catalog.create_namespace_if_not_exists(namespace)
    table = catalog.create_table_if_not_exists(identifier, schema=rows.schema)
    if overwrite:
        table.overwrite(rows)
    else:
        table.append(rows)
    return table.current_snapshot().snapshot_id


def read_table(catalog: Catalog, identifier: str) -> pa.Table:
    return catalog.load_table(identifier).scan().to_arrow()
