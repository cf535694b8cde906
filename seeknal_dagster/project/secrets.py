"""Secrets: values that must never reach metadata, logs, error messages or files.

One registry per process, filled as secrets are read, and one way to scrub them out of text:

- ``register(value)``: remember a secret value seen in this process. Registered automatically: every value a
  ``{{ env:NAME }}`` / ``{{ env('NAME') }}`` template read from the environment (a default written in the project
  is not a secret), and the resolved value of every secret-named key (:func:`is_secret_key`) of a profiles.yml
  connection or of a source's inline connection params.
- ``scrub(text)``: ``text`` with every registered value replaced by ``***``, also where it was echoed
  percent- or JSON-escaped. Apply it to any text built from something a driver, a server or DuckDB said (error
  messages, logs). HTTP deliveries register what they send as credentials (``delivery/web.py``).
- ``redact(mapping)``: a copy fit for display: secret-named keys become ``***``, so does the password of a URL
  (``postgresql://user:***@host``), other strings are scrubbed.
- ``is_secret_key(name)``: whether a setting's name says it holds a secret (``password``, ``api_key``, …).

Values shorter than :data:`MIN_SCRUBBED_LENGTH` characters are remembered but not scrubbed from free text:
replacing every ``1`` or ``eu`` would garble every message, and so short a value is no real secret. SQL shown as
metadata does not depend on this: it shows ``{{ env:NAME }}`` expressions unrendered (see
:meth:`seeknal_dagster.project.templating.TemplateRenderer.render_sql`).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Mapping
from urllib.parse import quote

MIN_SCRUBBED_LENGTH = 4
MASK = "***"
#: Substrings of a setting's name that mark its value as a secret.
SECRET_NAME_PARTS = (
    "password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "credential", "key-id", "key_id",
)

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def is_secret_key(name: Any) -> bool:
    lowered = str(name).lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def register(value: Any) -> None:
    """Remember ``value`` as a secret of this process, with the spellings a server or driver may echo it in
    (percent-encoded, JSON-escaped); ``None`` and values shorter than :data:`MIN_SCRUBBED_LENGTH` are ignored."""
    global _pattern
    if value is None:
        return
    text = str(value)
    if len(text) < MIN_SCRUBBED_LENGTH or text in _values:
        return
    spellings = {text, quote(text, safe=""), json.dumps(text)[1:-1], text.replace("/", "\\/")}
    with _lock:
        _values.update(spellings)
        _pattern = None


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first, so no fragment survives)."""
    global _pattern
    if not _values or not text:
        return text
    pattern = _pattern
    if pattern is None:
        with _lock:
            ordered = sorted(_values, key=len, reverse=True)
            pattern = _pattern = re.compile("|".join(map(re.escape, ordered)))
    return pattern.sub(MASK, text)


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` (connection params, node params) fit for metadata: secret-named keys masked,
    strings scrubbed, nested mappings and lists likewise."""
    return {key: MASK if is_secret_key(key) and value not in (None, "") else _redacted(value) for key, value in mapping.items()}


def holds_secret(value: Any) -> bool:
    """Whether a value (a node's YAML) holds something :func:`redact` would mask: a secret-named key's value, or a
    registered secret."""
    return _redacted(value) != value


#: The password of a URL's user info (``postgresql://user:password@host``), wherever a URL stands in a text.
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):([^@/\s]+)(?=@)")


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(_URL_PASSWORD.sub(lambda match: f"{match.group(1)}:{MASK}", value))
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value
