"""SQL as DuckDB itself lexes it (``duckdb.tokenize``): statement boundaries, what a statement does to the
database beyond its node, and where a value pasted into SQL lands.

DuckDB's lexer, not a regex or a lexer of our own, decides, because what matters is how DuckDB will read the text:
``E'\\''`` is one string to DuckDB, and a splitter that disagrees would let ``; COMMIT`` through as text.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from typing import Any, NamedTuple

#: First words of statements a node may not run, with why: they end or escape the transaction a transform runs
#: in, or change the database (or Spark cluster) every other node of the run shares.
REFUSED_STATEMENTS: dict[tuple[str, ...], str] = {
    **dict.fromkeys(
        [("BEGIN",), ("START",), ("COMMIT",), ("ROLLBACK",), ("ABORT",), ("END",)],
        "transaction control: a node's statements run in a transaction of their own, which seeknal-dagster ends",
    ),
    **dict.fromkeys(
        [("ATTACH",), ("DETACH",), ("USE",)],
        "the database a node runs in is the run's; attach other data with a source node",
    ),
    **dict.fromkeys(
        [("CHECKPOINT",), ("FORCE", "CHECKPOINT"), ("VACUUM",), ("EXPORT",), ("IMPORT",), ("COPY", "FROM", "DATABASE")],
        "it acts on the whole database every node of the run shares",
    ),
    **dict.fromkeys(
        [("INSTALL",), ("FORCE", "INSTALL"), ("LOAD",), ("UPDATE", "EXTENSIONS")],
        "extensions are set up with the deployment, not by a node",
    ),
    # Spark: a node runs in a session of its own, but these reach the cluster every session shares.
    **dict.fromkeys(
        [("ADD", "JAR"), ("ADD", "JARS"), ("ADD", "FILE"), ("ADD", "FILES"), ("ADD", "ARCHIVE"), ("ADD", "ARCHIVES")],
        "code and files are set up with the deployment, not by a node (on Spark they reach every later job)",
    ),
    ("CLEAR", "CACHE"): "it empties the cache every session of the Spark cluster shares",
}
#: Settings DuckDB cannot change back while the database is open: a node changing them would change every later
#: node of the run.
ONE_WAY_SETTINGS = frozenset({"enable_external_access", "lock_configuration", "allowed_directories", "allowed_paths"})
#: First words of statements that may change DuckDB settings (set back after the node: executors/sql_node.py).
SETTING_STATEMENTS = frozenset({"SET", "RESET", "PRAGMA", "CALL"})
_SCOPES = frozenset({"GLOBAL", "SESSION", "LOCAL"})
#: First words of statements that return rows: the statement whose rows are a node's output must be one.
QUERY_STARTS = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE", "PIVOT", "UNPIVOT", "DESCRIBE", "SUMMARIZE"})


class Token(NamedTuple):
    start: int
    end: int
    kind: str  # identifier, numeric_const, string_const, operator, keyword, comment
    text: str


class Statement(NamedTuple):
    """One statement of a script: its text (without leading and trailing comments), its first keywords and names,
    and its first token, upper-cased (opening parentheses skipped, as in both)."""

    text: str
    words: tuple[str, ...]
    first_token: str = ""

    @property
    def is_query(self) -> bool:
        """Whether it returns rows (see :func:`is_query`)."""
        return self.first_token in QUERY_STARTS

    @property
    def refused(self) -> str | None:
        """Why a node may not run this statement (``None`` when it may)."""
        words = self.words
        for length in (3, 2, 1):
            reason = REFUSED_STATEMENTS.get(words[:length])
            if reason:
                return f"{' '.join(words[:length])} is not allowed: {reason}"
        if words[:1] == ("CALL",) and words[1:2] and words[1].lower() in ("checkpoint", "force_checkpoint"):
            return f"CALL {words[1].lower()}() is not allowed: {REFUSED_STATEMENTS[('CHECKPOINT',)]}"
        if self.setting in ONE_WAY_SETTINGS:
            return f"changing {self.setting} is not allowed: DuckDB cannot change it back, so every later node would run with it"
        return None

    @property
    def changes_settings(self) -> bool:
        """Whether it may change a DuckDB setting (SET, RESET, PRAGMA, CALL)."""
        return self.words[:1] in _SETTING_STARTS

    @property
    def setting(self) -> str | None:
        """The setting a SET / RESET / PRAGMA statement names, lower-cased."""
        if self.words[:1] not in (("SET",), ("RESET",), ("PRAGMA",)):
            return None
        names = [word for word in self.words[1:] if word not in _SCOPES]
        return names[0].lower() if names else None


_SETTING_STARTS = {(word,) for word in SETTING_STATEMENTS}


@lru_cache(maxsize=1024)
def _lexed(sql: str) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    """Where each of DuckDB's tokens of ``sql`` starts (in characters) and its ``duckdb.token_type``."""
    import duckdb

    found = duckdb.tokenize(sql)
    if not found:
        return (), ()
    if not sql.isascii():  # DuckDB counts UTF-8 bytes; Python strings count characters
        characters = {}
        offset = 0
        for index, char in enumerate(sql):
            characters[offset] = index
            offset += len(char.encode())
        found = [(characters[start], kind) for start, kind in found]
    starts, kinds = zip(*found)
    return starts, kinds


def _token_text(sql: str, starts: tuple[int, ...], index: int) -> str:
    """A token's text: up to the next token, trailing whitespace excluded."""
    end = starts[index + 1] if index + 1 < len(starts) else len(sql)
    return sql[starts[index] : end].rstrip()


def tokens(sql: str) -> tuple[Token, ...]:
    """DuckDB's tokens of ``sql``."""
    starts, kinds = _lexed(sql)
    texts = [_token_text(sql, starts, index) for index in range(len(starts))]
    return tuple(Token(start, start + len(text), kind.name, text) for start, kind, text in zip(starts, kinds, texts))


def is_query(statement: str) -> bool:
    """Whether a statement returns rows (its result can be the node's output): its first word after comments and
    opening parentheses."""
    found = statements(statement)
    return bool(found) and found[0].is_query


def _separators(sql: str, starts: tuple[int, ...], kinds: tuple[Any, ...]) -> list[int]:
    """Indexes of the tokens that are a statement-ending ``;`` (found from the ``;`` characters, not by reading
    every token)."""
    import duckdb

    found = []
    position = sql.find(";")
    while position != -1:
        index = bisect.bisect_left(starts, position)
        if index < len(starts) and starts[index] == position and kinds[index] == duckdb.token_type.operator:
            found.append(index)
        position = sql.find(";", position + 1)
    return found


def statements(sql: str) -> list[Statement]:
    """The statements of a script, split where DuckDB sees a ``;``, without their leading and trailing comments
    (so the last one can be wrapped in ``COPY (…) TO``), each with its first keywords and names (opening
    parentheses skipped); pieces holding only comments are dropped."""
    import duckdb

    comment, operator = duckdb.token_type.comment, duckdb.token_type.operator
    word_kinds = (duckdb.token_type.keyword, duckdb.token_type.identifier)
    starts, kinds = _lexed(sql)
    found: list[Statement] = []
    begin = 0
    for end in [*_separators(sql, starts, kinds), len(starts)]:
        # The first and last tokens that are code: found from each end, not by listing every token between.
        first = next((index for index in range(begin, end) if kinds[index] != comment), None)
        last = next((index for index in range(end - 1, begin - 1, -1) if kinds[index] != comment), None)
        begin = end + 1
        if first is None or last is None:
            continue
        words: list[str] = []
        first_token = ""
        for index in range(first, last + 1):
            if kinds[index] == comment or (kinds[index] == operator and sql[starts[index]] == "("):
                continue
            text = _token_text(sql, starts, index).upper()
            first_token = first_token or text
            if kinds[index] not in word_kinds or len(words) == 4:
                break
            words.append(text.strip('"'))
        text = sql[starts[first] : starts[last] + len(_token_text(sql, starts, last))]
        found.append(Statement(text, tuple(words), first_token))
    return found


def split_statements(sql: str) -> list[str]:
    return [statement.text for statement in statements(sql)]


def refused_statements(sql: str | list[Statement]) -> list[tuple[int, int, str]]:
    """(number, count, why) of every statement of a script a node may not run, numbered from 1 (``sql`` may be
    the script's :func:`statements` already, so a caller that needs both lexes once)."""
    found = statements(sql) if isinstance(sql, str) else sql
    return [(number, len(found), statement.refused) for number, statement in enumerate(found, start=1) if statement.refused]


def has_statement_separator(sql: str) -> bool:
    """Whether ``sql`` holds a ``;`` DuckDB would end a statement at (an expression must not)."""
    return ";" in sql and bool(_separators(sql, *_lexed(sql)))


def value_contexts(sql: str, spans: list[tuple[int, int]]) -> list[str]:
    """Where each ``(start, end)`` span of ``sql`` lies: ``string`` (a '…' literal, or X'…' / B'…'),
    ``escape_string`` (E'…', where a backslash escapes), ``dollar_string`` ($$…$$), ``comment``,
    ``quoted_identifier``, ``code`` (a token of its own) or ``inside_token`` (glued to other code text)."""
    contexts = []
    all_tokens = tokens(sql)
    for start, end in spans:
        token = next((item for item in all_tokens if item.start <= start < max(item.end, item.start + 1)), None)
        if token is None:
            contexts.append("inside_token")
        elif token.kind == "string_const":
            prefix = token.text[:1]
            contexts.append("escape_string" if prefix in "eE" else "dollar_string" if prefix == "$" else "string")
        elif token.kind == "comment":
            contexts.append("comment")
        elif token.text.startswith('"'):
            contexts.append("quoted_identifier")
        elif (token.start, token.end) == (start, end):
            contexts.append("code")
        else:
            contexts.append("inside_token")
    return contexts


def lexes_alike(template: str, spans: list[tuple[int, int]], replacements: list[str], rendered: str) -> bool:
    """Whether ``rendered`` (``template`` with each span replaced) has exactly the template's tokens: every token
    where it was, a value inside a literal or comment still inside it, and a value standing as code lexing as
    its replacement alone (a number, ``true``)."""
    expected: list[tuple[int, str]] = []
    for token in tokens(template):
        shift = sum(len(text) - (end - start) for (start, end), text in zip(spans, replacements) if end <= token.start)
        standing = [text for (start, end), text in zip(spans, replacements) if (start, end) == (token.start, token.end)]
        if standing:
            expected += [(token.start + shift + part.start, part.kind) for part in tokens(standing[0])]
        else:
            expected.append((token.start + shift, token.kind))
    return expected == [(token.start, token.kind) for token in tokens(rendered)]
