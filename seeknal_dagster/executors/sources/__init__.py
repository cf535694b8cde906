"""How a ``source`` node reads each family of external data: one reader per family.

:mod:`seeknal_dagster.executors.source` is where the node kind starts: it picks the reader for the node's source
type (``READERS``), runs its ``plan`` at validation and its ``read`` at execution, and describes the result. Each
family's checks, queries and error messages live in one module here (``files``, ``sqlite``, ``postgresql``,
``iceberg``, ``hive``); ``reader`` holds what they share (paths, the declared schema, writing Arrow data to the
output) and ``arrow`` turns database rows into Arrow record batches.
"""
