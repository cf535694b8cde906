"""What a PostgreSQL source's query may not call, though a read-only transaction lets it.

A source reads inside ``BEGIN READ ONLY``, which stops INSERT, UPDATE, DDL and ``nextval``, but not everything that
changes or reads beyond the data: PostgreSQL 15 lets a read-only transaction create and delete large objects
(``lo_create``, ``lo_unlink``, ``lo_from_bytea``, ``lo_import``…), run SQL given as text (``query_to_xml``,
``ts_stat``), open another, writable connection (``dblink_exec``), read and write server files (``pg_read_file``,
adminpack's ``pg_file_write``), signal other sessions, take advisory locks, notify, change settings, switch WAL or
create replication slots (checked against a real server by ``tests/test_source_postgres.py``). A query calling any
of these is refused before it is sent, naming the function.

The query is lexed, not searched: DuckDB's lexer (``duckdb.tokenize``) shares PostgreSQL's lexical rules for
strings (``E'…'``, ``$tag$…$tag$``), quoted identifiers and nested comments, so a name in a comment or a string
literal is not a call, and ``"lo_unlink" (1)`` or ``pg_catalog.lo_unlink/**/(1)`` is. A ``U&"…"`` identifier,
which can spell any name with escapes, is refused outright.

This is a second line of defence. The real guarantee is a database role that can only read.
"""

from __future__ import annotations

import re

#: Function names a source query may not call, with why.
REFUSED_FUNCTIONS: dict[str, str] = {
    **dict.fromkeys(
        ("loread", "lowrite"), "it reads or writes a large object, which a read-only transaction does not stop"
    ),
    **dict.fromkeys(
        ("query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml", "ts_stat", "ts_rewrite"),
        "it runs SQL given as text, which this check cannot see",
    ),
    **dict.fromkeys(
        ("pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_logdir_ls"),
        "it reads files on the database server",
    ),
    **dict.fromkeys(
        ("pg_terminate_backend", "pg_cancel_backend", "pg_notify"), "it acts on other sessions"
    ),
    **dict.fromkeys(
        (
            "set_config",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_switch_wal",
            "pg_create_restore_point",
            "pg_backup_start",
            "pg_backup_stop",
            "pg_start_backup",
            "pg_stop_backup",
            "pg_promote",
            "pg_wal_replay_pause",
            "pg_wal_replay_resume",
            "pg_logical_emit_message",
            "pg_import_system_collations",
            "pg_log_backend_memory_contexts",
            "pg_stat_statements_reset",
        ),
        "it changes the server's settings or state",
    ),
}
#: Families of functions refused by the start of their names, with why.
REFUSED_PREFIXES: dict[str, str] = {
    "lo_": "it creates, changes or deletes a large object, which a read-only transaction does not stop",
    "dblink": "it opens a connection of its own, which is not read-only",
    "pg_ls_": "it lists files on the database server",
    "pg_file_": "it writes files on the database server",
    "pg_advisory": "it takes an advisory lock other sessions wait on",
    "pg_try_advisory": "it takes an advisory lock other sessions wait on",
    "pg_stat_reset": "it changes the server's settings or state",
    "pg_replication_origin_": "it changes the server's replication state",
    "pg_logical_slot_": "it consumes a replication slot",
}
_REPLICATION_SLOT = re.compile(r"replication_slot")


def refusal(function: str) -> str | None:
    """Why a query may not call ``function`` (a name, lower case), or ``None``."""
    if function in REFUSED_FUNCTIONS:
        return REFUSED_FUNCTIONS[function]
    for prefix, reason in REFUSED_PREFIXES.items():
        if function.startswith(prefix):
            return reason
    if _REPLICATION_SLOT.search(function):
        return "it creates, changes or drops a replication slot"
    return None


def _identifier(text: str) -> str:
    """An identifier token as PostgreSQL names it (quotes removed; folded to lower case either way, so a quoted
    ``"LO_UNLINK"`` is refused too)."""
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        text = text[1:-1].replace('""', '"')
    return text.lower()


def refused_calls(query: str) -> list[str]:
    """``name(): why`` for every refused function ``query`` calls, in order (empty when it calls none)."""
    import duckdb

    found = duckdb.tokenize(query)
    ends = [start for start, _ in found[1:]] + [len(query)]
    tokens = [(start, kind.name, query[start:end].strip()) for (start, kind), end in zip(found, ends)]
    code = [token for token in tokens if token[1] != "comment"]
    refused: list[str] = []
    for index, (start, kind, text) in enumerate(code):
        if kind not in ("identifier", "keyword"):
            continue
        if text in ("U", "u") and query.startswith('&"', start + 1):
            refused.append('U&"…": an identifier spelled with escapes could name any function')
            continue
        following = code[index + 1][2] if index + 1 < len(code) else ""
        if following != "(":
            continue
        name = _identifier(text)
        reason = refusal(name)
        if reason:
            refused.append(f"{name}(): {reason}")
    return refused
