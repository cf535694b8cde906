"""HTTP deliveries: JSON sent with bounded retries, and reachability probes.

Only the standard library is used. What a delivery guarantees:

- Only a 2xx answer counts as delivered. A redirect is never followed when sending: urllib would re-send a POST as
  a GET without its body (and report success), or carry the ``Authorization`` header to wherever the server points.
  A 3xx is a failure naming where it pointed; the exposure should name the final URL.
- Credentials never go to another origin (nothing is re-sent anywhere but the configured URL), and whatever was sent
  as a credential (header values, the basic-auth pair, URL userinfo and token-like query values, every ``${VAR}``
  value) is scrubbed from every message built from a response, since servers echo request headers in error pages.
- Transient failures (connection errors, timeouts, HTTP 408/425/429/5xx) are retried with exponential backoff; a
  ``Retry-After`` (seconds or an HTTP date) is honoured, and a server asking for a longer wait than the policy's
  ``max_wait`` fails the delivery at once instead of being retried early.

Secrets come from ``${VAR}`` placeholders resolved just before sending; messages show URLs as written in the YAML.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from seeknal_dagster.project.profiles import interpolate_env, unset_variables
from seeknal_dagster.project.secrets import MASK, MIN_SCRUBBED_LENGTH
from seeknal_dagster.project.secrets import register as register_secret
from seeknal_dagster.project.secrets import scrub as scrub_secrets

RETRYABLE_STATUS = frozenset({408, 425, 429})
#: Characters of a response body quoted in an error message, of at most this many bytes read.
RESPONSE_EXCERPT = 300
RESPONSE_READ_LIMIT = 64 * 1024
USER_AGENT = "seeknal-dagster"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Headers whose values are credentials whatever their names say.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
#: A header or query parameter whose name matches this carries a credential (``X-Api-Key``, ``access_token``…).
CREDENTIAL_NAME = re.compile(r"token|secret|passw|key|auth|credential|signature|^sig$|session", re.I)
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


class DeliveryError(RuntimeError):
    """A delivery failed for good (after its retries, or at once for a request the server rejects)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``retries`` after the first attempt, waiting ``backoff`` × 2ⁿ seconds between them, or
    as long as the server's ``Retry-After`` asks, but never longer than ``max_wait``."""

    retries: int = 3
    backoff: float = 1.0
    timeout: float = 30.0
    max_wait: float = 60.0

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def wait_after(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1)."""
        backoff = min(self.backoff * 2 ** (attempt - 1), self.max_wait)
        return backoff if retry_after is None else max(backoff, retry_after)


def shown_url(template: str) -> str:
    """A URL fit for logs and metadata: placeholders stay unresolved; a password in it and the values of
    token-like query parameters are masked."""
    parts = urlsplit(template)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username}:{MASK}@{host}")
    if parts.query:
        parts = parts._replace(query=_QUERY_PAIR.sub(_masked_pair, parts.query))
    return urlunsplit(parts)


_QUERY_PAIR = re.compile(r"([^&=]+)=([^&]*)")


def _masked_pair(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}={MASK}" if CREDENTIAL_NAME.search(name) and match.group(2) else match.group(0)


def sent_credentials(url: str, headers: Mapping[str, str], templates: Iterable[Any] = ()) -> frozenset[str]:
    """Every value sent to ``url`` with ``headers`` as a credential: credential headers' values (and, for
    ``Bearer``/``Basic``, the token and the decoded user:password pair and password), the URL's password and
    token-like query values, and every ``${VAR}`` value in ``templates`` (the YAML the request was built from)."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() not in CREDENTIAL_HEADERS and not CREDENTIAL_NAME.search(name):
            continue
        found.add(value)
        scheme, _, credential = value.strip().partition(" ")
        found.add(credential.strip())
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(credential.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            found.update({pair, pair.partition(":")[2]})
    parts = urlsplit(url)
    if parts.password:
        found.add(parts.password)
    found.update(value for name, value in parse_qsl(parts.query) if CREDENTIAL_NAME.search(name))
    for template in templates:
        found.update(placeholder_values(template))
    return frozenset(value for value in found if len(value) >= MIN_SCRUBBED_LENGTH)


def placeholder_values(template: Any) -> set[str]:
    """The values the ``${VAR}`` placeholders in ``template`` (strings, lists, mappings) resolve to now."""
    if isinstance(template, str):
        return {interpolate_env(placeholder) for placeholder in _PLACEHOLDER.findall(template)}
    if isinstance(template, Mapping):
        template = list(template.values())
    if isinstance(template, (list, tuple)):
        return {value for item in template for value in placeholder_values(item)}
    return set()


def scrub(text: str, credentials: Iterable[str]) -> str:
    """``text`` with ``credentials`` (registered as secrets of the process, so every later message is scrubbed of
    them too) and every other registered secret replaced by ``***`` (see :mod:`seeknal_dagster.project.secrets`)."""
    for credential in credentials:
        register_secret(credential)
    return scrub_secrets(text)


def idempotency_key(node_id: str, data_version: str, batch_number: int, batch_rows: int) -> str:
    """The ``Idempotency-Key`` of one batch: the same node sending the same data in the same batches sends the
    same keys, so a receiver can drop what a re-run sends again; new data gets new keys."""
    identity = json.dumps([node_id, data_version, batch_rows, batch_number])
    return "seeknal-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


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


def _describe(error: urllib.error.HTTPError, secrets: Iterable[str]) -> str:
    """The status and the start of the response body, which usually says what the server did not accept; secrets
    are scrubbed before the body is cut, so no fragment of one survives at the cut."""
    try:
        body = error.read(RESPONSE_READ_LIMIT).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        body = ""
    body = " ".join(scrub(body, secrets).split())
    if len(body) > RESPONSE_EXCERPT:
        body = body[:RESPONSE_EXCERPT] + "…"
    return scrub(f"HTTP {error.code} {error.reason}", secrets) + (f": {body}" if body else "")


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header as seconds from now: delay-seconds or an HTTP date (``None`` when absent or
    unreadable; a date in the past is 0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


class _RedirectsAreAnswers(urllib.request.HTTPRedirectHandler):
    """Hands every 3xx back as an ``HTTPError``: a delivery goes to the configured URL or nowhere."""

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> None:
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_SENDER = urllib.request.build_opener(_RedirectsAreAnswers)


def send_json(
    url: str,
    payload: Any,
    headers: Mapping[str, str],
    policy: RetryPolicy,
    method: str = "POST",
    secrets: Iterable[str] = (),
) -> int:
    """Send ``payload`` as JSON to ``url`` and nowhere else, retrying transient failures; returns the (2xx) HTTP
    status. Raises :class:`DeliveryError` saying how many attempts were made and why the last one failed, with
    every one of ``secrets`` (see :func:`sent_credentials`) scrubbed from what the server answered."""
    body = json.dumps(payload, default=json_value).encode()
    request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    secrets = frozenset(secrets) | sent_credentials(url, request_headers)
    reason = ""
    for attempt in range(1, policy.attempts + 1):
        request = urllib.request.Request(url, data=body, headers=request_headers, method=method)
        retry_after = None
        try:
            with _SENDER.open(request, timeout=policy.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                location = error.headers.get("Location") or "no Location"
                raise DeliveryError(
                    scrub(
                        f"answered HTTP {error.code} {error.reason} (redirect to {location}): redirects are not "
                        f"followed (a {method} would lose its body or carry its credentials elsewhere); set the "
                        "exposure's URL to the final address",
                        secrets,
                    )
                ) from None
            if not _is_transient(error):
                raise DeliveryError(f"rejected with {_describe(error, secrets)}") from None
            reason = _describe(error, secrets)
            retry_after = retry_after_seconds(error.headers.get("Retry-After"))
        except (OSError, http.client.HTTPException) as error:
            reason = _network_reason(error, policy.timeout)
        if attempt == policy.attempts:
            break
        if retry_after is not None and retry_after > policy.max_wait:
            raise DeliveryError(
                scrub(
                    f"{reason}; the server asks to retry after {retry_after:.0f}s, longer than max_wait "
                    f"({policy.max_wait:g}s): not retried after {attempt} attempt(s)",
                    secrets,
                )
            )
        time.sleep(policy.wait_after(attempt, retry_after))
    raise DeliveryError(scrub(f"failed after {policy.attempts} attempt(s): {reason}", secrets))


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
