"""The ESO chart from a Helm repository on 127.0.0.1, as a private mirror would serve it.

`helm package` and `helm repo index` make the repository (relative chart URLs, so the index
works under any name); it is served over HTTPS with a certificate of the harness's CA, which
the engine's processes trust through `SSL_CERT_FILE`. For a program that still names
upstream's repository (a previous release), `UpstreamTunnel` is an HTTPS proxy that answers
`CONNECT charts.external-secrets.io:443` with a tunnel to this repository and refuses every
other host: Go's HTTP client reaches it through `HTTPS_PROXY` and never proxies loopback.
"""

import select
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from e2e.pki import UPSTREAM_CHART_HOST
from e2e.processes import LOOPBACK


def package(helm: Path, chart: Path, directory: Path) -> Path:
    """A repository folder holding the packaged chart and its index.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(helm), "package", str(chart), "--destination", str(directory)], check=True, capture_output=True)
    subprocess.run([str(helm), "repo", "index", str(directory)], check=True, capture_output=True)
    return directory


@dataclass
class ChartRepository:
    directory: Path
    cert: Path
    key: Path
    requests: list[str] = field(default_factory=list)
    _server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "ChartRepository":
        seen = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self._server = ThreadingHTTPServer((LOOPBACK, 0), partial(Handler, directory=str(self.directory)))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        _serve(self._server, "chart-repository")
        return self

    def stop(self) -> None:
        _shut(self._server)


@dataclass
class UpstreamTunnel:
    """An HTTPS proxy that reaches only upstream's chart repository, and reaches it here."""

    repository_port: int
    refused: list[str] = field(default_factory=list)
    _server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> "UpstreamTunnel":
        tunnel = self

        class Handler(BaseHTTPRequestHandler):
            def do_CONNECT(self):
                host, _, port = self.path.partition(":")
                if host != UPSTREAM_CHART_HOST or port != "443":
                    tunnel.refused.append(self.path)
                    self.send_error(403, f"the harness reaches only {UPSTREAM_CHART_HOST}:443")
                    return
                upstream = socket.create_connection((LOOPBACK, tunnel.repository_port), timeout=30)
                self.send_response(200, "Connection established")
                self.end_headers()
                _pipe(self.connection, upstream)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        _serve(self._server, "upstream-tunnel")
        return self

    def stop(self) -> None:
        _shut(self._server)


def _serve(server: ThreadingHTTPServer, name: str) -> None:
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()


def _shut(server: Optional[ThreadingHTTPServer]) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    ends = [client, upstream]
    try:
        while True:
            readable, _, broken = select.select(ends, [], ends, 60)
            if broken or not readable:
                return
            for end in readable:
                data = end.recv(65536)
                if not data:
                    return
                (upstream if end is client else client).sendall(data)
    finally:
        upstream.close()
