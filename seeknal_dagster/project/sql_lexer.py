"""SQL as DuckDB itself lexes it (``duckdb.tokenize``): statement boundaries, what a statement does to the
database beyond its node, and where a value pasted into SQL lands.

DuckDB's lexer, not a regex or a lexer of our own, decides, because what matters is how DuckDB will read the text:
``E'\\''`` is one string to DuckDB, and a splitter that disagrees would let ``; COMMIT`` through as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

#: First words of statements a node may not run, with why: they end or escape the transaction a transform runs
#: in, or change the database every other node of the run shares.
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
        [("CHECKPOINT",), ("FORCE",), ("VACUUM",), ("EXPORT",), ("IMPORT",), ("COPY", "FROM", "DATABASE")],
        "it acts on the whole database every node of the run shares",
    ),
    **dict.fromkeys(
        [("INSTALL",), ("LOAD",), ("UPDATE", "EXTENSIONS")],
        "extensions are set up with the deployment, not by a node",
    ),
}
#: Settings DuckDB cannot change back while the database is open: a node changing them would change every later
#: node of the run.
ONE_WAY_SETTINGS = frozenset({"enable_external_access", "lock_configuration", "allowed_directories", "allowed_paths"})
#: First words of statements that may change DuckDB settings (restored after the node, see the transform executor).
SETTING_STATEMENTS = frozenset({"SET", "RESET", "PRAGMA", "CALL"})
_SCOPES = frozenset({"GLOBAL", "SESSION", "LOCAL"})


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    kind: str  # identifier, numeric_const, string_const, operator, keyword, comment
    text: str


@lru_cache(maxsize=1024)
def tokens(sql: str) -> tuple[Token, ...]:
    """DuckDB's tokens of ``sql``; a token ends where the next begins, trailing whitespace excluded."""
    import duckdb

    found = duckdb.tokenize(sql)
    if not sql.isascii():  # DuckDB counts UTF-8 bytes; Python strings count characters
        characters = {}
        offset = 0
        for index, char in enumerate(sql):
            characters[offset] = index
            offset += len(char.encode())
        found = [(characters[start], kind) for start, kind in found]
    ends = [start for start, _ in found[1:]] + [len(sql)]
    result = []
    for (start, kind), end in zip(found, ends):
        text = sql[start:end].rstrip()
        result.append(Token(start, start + len(text), kind.name, text))
    return tuple(result)


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split where DuckDB sees a ``;``, without their leading and trailing comments
    (so the last one can be wrapped in ``COPY (…) TO``); pieces holding only comments are dropped."""
    statements: list[str] = []
    piece: list[Token] = []
    for token in (*tokens(sql), None):
        if token is None or (token.kind == "operator" and token.text == ";"):
            code = [item for item in piece if item.kind != "comment"]
            if code:
                statements.append(sql[code[0].start : code[-1].end])
            piece = []
        else:
            piece.append(token)
    return statements


def has_statement_separator(sql: str) -> bool:
    """Whether ``sql`` holds a ``;`` DuckDB would end a statement at (an expression must not)."""
    return any(token.kind == "operator" and token.text == ";" for token in tokens(sql))


def _leading_words(statement: str, count: int = 3) -> tuple[str, ...]:
    words = []
    for token in tokens(statement):
        if token.kind == "comment" or (token.kind == "operator" and token.text == "("):
            continue
        if token.kind not in ("keyword", "identifier"):
            break
        words.append(token.text.strip('"').upper())
        if len(words) == count:
            break
    return tuple(words)


def refused_statement(statement: str) -> str | None:
    """Why a node may not run ``statement`` (``None`` when it may)."""
    words = _leading_words(statement, 4)
    for length in (3, 2, 1):
        reason = REFUSED_STATEMENTS.get(words[:length])
        if reason:
            return f"{' '.join(words[:length])} is not allowed: {reason}"
    if words[:1] == ("CALL",) and words[1:2] and words[1].lower() in ("checkpoint", "force_checkpoint"):
        return f"CALL {words[1].lower()}() is not allowed: {REFUSED_STATEMENTS[('CHECKPOINT',)]}"
    setting = changed_setting(statement)
    if setting in ONE_WAY_SETTINGS:
        return f"changing {setting} is not allowed: DuckDB cannot change it back, so every later node would run with it"
    return None


def refused_statements(statements: list[str]) -> list[tuple[int, str]]:
    """(number, why) of every statement of a node's script it may not run, numbered from 1."""
    reasons = [(number, refused_statement(statement)) for number, statement in enumerate(statements, start=1)]
    return [(number, reason) for number, reason in reasons if reason]


def changes_settings(statement: str) -> bool:
    """Whether ``statement`` may change a DuckDB setting (SET, RESET, PRAGMA, CALL)."""
    return _leading_words(statement, 1)[:1] in {(word,) for word in SETTING_STATEMENTS}


def changed_setting(statement: str) -> str | None:
    """The setting a SET / RESET / PRAGMA statement names, lower-cased."""
    words = _leading_words(statement, 3)
    if not words or words[0] not in ("SET", "RESET", "PRAGMA"):
        return None
    names = [word for word in words[1:] if word not in _SCOPES]
    return names[0].lower() if names else None


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
