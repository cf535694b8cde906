"""HTTP deliveries: JSON posted with bounded retries and exponential backoff, and reachability probes.

Only the standard library is used. Transient failures (connection errors, timeouts, HTTP 408/429/5xx) are retried;
any other HTTP error means the request itself is wrong and fails at once. Secrets come from ``${VAR}`` placeholders
resolved just before sending; messages show URLs as written in the YAML, never their resolved values.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from seeknal_dagster.project.profiles import interpolate_env, unset_variables

RETRYABLE_STATUS = frozenset({408, 429})
#: Characters of a response body quoted in an error message.
RESPONSE_EXCERPT = 200
USER_AGENT = "seeknal-dagster"


class DeliveryError(RuntimeError):
    """A delivery failed for good (after its retries, or at once for a request the server rejects)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``retries`` after the first attempt, waiting ``backoff`` × 2ⁿ seconds between them."""

    retries: int = 3
    backoff: float = 1.0
    timeout: float = 30.0

    @property
    def attempts(self) -> int:
        return self.retries + 1


def shown_url(template: str) -> str:
    """A URL fit for logs and metadata: placeholders stay unresolved, a password in it is masked."""
    if "${" in template:
        return template
    parts = urlsplit(template)
    if parts.password is None:
        return template
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def resolve_secrets(value: Any, what: str) -> Any:
    """``value`` with its ``${VAR}`` placeholders resolved; an unset variable without a default fails by name."""
    missing = unset_variables(value)
    if missing:
        raise DeliveryError(f"{what} uses environment variable(s) {', '.join(sorted(set(missing)))}, which are not set")
    return interpolate_env(value)


def auth_headers(auth: Any) -> dict[str, str]:
    """Headers for ``auth``: ``{bearer_token: …}`` / ``{type: bearer, token: …}``, or basic auth as
    ``{username, password}`` or ``[username, password]`` (values usually ``${VAR}`` placeholders)."""
    if not auth:
        return {}
    auth = resolve_secrets(auth, "auth")
    if isinstance(auth, (list, tuple)) and len(auth) == 2:
        auth = {"username": auth[0], "password": auth[1]}
    if not isinstance(auth, Mapping):
        raise DeliveryError("auth must be {bearer_token: …} or {username: …, password: …}")
    token = auth.get("bearer_token") or (auth.get("token") if str(auth.get("type", "bearer")).lower() == "bearer" else None)
    if token:
        return {"Authorization": f"Bearer {token}"}
    if "username" in auth:
        pair = f"{auth['username']}:{auth.get('password') or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    raise DeliveryError("auth must be {bearer_token: …} or {username: …, password: …}")


def json_value(value: Any) -> Any:
    """What ``json.dumps`` cannot encode by itself, as the closest JSON value."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return str(value)


def _network_reason(error: Exception, timeout: float) -> str:
    """Why an attempt got no HTTP answer (always worth another try)."""
    if isinstance(error, (TimeoutError, socket.timeout)) or "timed out" in str(error):
        return f"no response within {timeout:g}s"
    if isinstance(error, urllib.error.URLError):
        return f"connection failed: {error.reason}"
    return f"connection failed: {type(error).__name__}: {error}"


def _is_transient(error: urllib.error.HTTPError) -> bool:
    return error.code in RETRYABLE_STATUS or error.code >= 500


def _describe(error: urllib.error.HTTPError) -> str:
    """The status and the start of the response body, which usually says what the server did not accept."""
    try:
        body = error.read(RESPONSE_EXCERPT).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        body = ""
    return f"HTTP {error.code} {error.reason}" + (f": {body}" if body else "")


def send_json(
    url: str, payload: Any, headers: Mapping[str, str], policy: RetryPolicy, method: str = "POST"
) -> int:
    """Send ``payload`` as JSON, retrying transient failures; returns the HTTP status, raises
    :class:`DeliveryError` saying how many attempts were made and why the last one failed."""
    body = json.dumps(payload, default=json_value).encode()
    request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    reason = ""
    for attempt in range(1, policy.attempts + 1):
        request = urllib.request.Request(url, data=body, headers=request_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            if not _is_transient(error):
                raise DeliveryError(f"rejected with {_describe(error)}") from None
            reason = _describe(error)
        except (OSError, http.client.HTTPException) as error:
            reason = _network_reason(error, policy.timeout)
        if attempt < policy.attempts:
            time.sleep(policy.backoff * 2 ** (attempt - 1))
    raise DeliveryError(f"failed after {policy.attempts} attempt(s): {reason}")


def probe(url: str, timeout: float) -> str | None:
    """``None`` when ``url`` answers below HTTP 400 (HEAD, or GET where HEAD is not allowed), else why not."""
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return None
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code in (405, 501):
                continue
            return f"HTTP {error.code} {error.reason}"
        except (OSError, http.client.HTTPException) as error:
            return _network_reason(error, timeout)
    return None
