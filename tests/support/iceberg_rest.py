"""A real Iceberg REST catalog on 127.0.0.1 for the tests, laid out as Lakekeeper is (``/catalog/v1/…``), with an
OAuth2 token endpoint as Keycloak has one: it serves, read-only, the tables of a local SQL catalog.

It answers the calls a reader makes (config, load table) only to the bearer token it handed out, and records
every request so a test can check what reached the server.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

ACCESS_TOKEN = "issued-access-token-5f2b"


@dataclass
class RestCatalogServer:
    catalog: Catalog
    client_id: str
    client_secret: str
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/realms/lake/protocol/openid-connect/token"


def _handler(state: RestCatalogServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, kind: str, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": kind, "code": status}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            state.requests.append(f"POST {self.path}")
            if urllib.parse.urlsplit(self.path).path != urllib.parse.urlsplit(state.token_url).path:
                return self._error(404, "NotFoundException", self.path)
            credentials = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
            if form.get("grant_type") != ["client_credentials"] or credentials != (state.client_id, state.client_secret):
                return self._send(401, {"error": "unauthorized_client"})
            self._send(200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300})

        def do_GET(self) -> None:  # noqa: N802
            path = urllib.parse.urlsplit(self.path).path
            state.requests.append(f"GET {self.path}")
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                return self._error(401, "NotAuthorizedException", "missing or wrong bearer token")
            if path == "/catalog/v1/config":
                return self._send(200, {"defaults": {}, "overrides": {}})
            parts = path.removeprefix("/catalog/v1/").split("/")
            if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "tables":
                try:
                    table = state.catalog.load_table((urllib.parse.unquote(parts[1]), parts[3]))
                except NoSuchTableError as error:
                    return self._error(404, "NoSuchTableException", str(error))
                with open(urllib.parse.urlsplit(table.metadata_location).path) as handle:
                    metadata = json.load(handle)
                return self._send(200, {"metadata-location": table.metadata_location, "metadata": metadata, "config": {}})
            self._error(404, "NotFoundException", path)

    return Handler


def serve(state: RestCatalogServer) -> Iterator[RestCatalogServer]:
    """Run the server on a free loopback port for the duration of the ``with``/fixture."""
    state.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.server.shutdown()
        state.server.server_close()
        thread.join(timeout=5)
