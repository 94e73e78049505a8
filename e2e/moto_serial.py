"""moto's server, answering one request at a time.

moto's backends are plain dicts that requests read and write with no lock (moto is not
thread-safe: getmoto/moto#372), while its `moto_server` runs werkzeug with a thread per request.
IAM's `get_role` and `create_role`, for two, iterate every role of the account, so ten tenant
stacks creating roles at once while ESO's reads go through the front can make moto fail
mid-iteration and answer an HTML 500 that AWS never sends (seen in CI: "ResponseParserError ...
500 Internal Server Error" on `CreateRole`). moto's requests take milliseconds under one GIL, so
serving them in turn costs nothing measurable and leaves moto's answers those of a race-free
server. Connections still get a thread each, so a slow client never holds the others' place.

Run as a script (it imports only moto and werkzeug): `python e2e/moto_serial.py -H HOST -p PORT`.
"""

import argparse
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class OneRequestAtATime:
    """A WSGI app that runs `app` for one request at a time, its whole body read under the lock
    (a lazily generated body would otherwise run moto's code after the lock is released)."""

    def __init__(self, app: WsgiApp):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            body = self._app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


def command(host: str, port: int) -> list[str]:
    """The command line that serves moto this way on host:port."""
    return [sys.executable, __file__, "-H", host, "-p", str(port)]


def main() -> None:
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="the address to bind")
    parser.add_argument("-p", "--port", type=int, required=True, help="the port to bind")
    args = parser.parse_args()
    # moto builds some URLs it returns (SQS queue URLs, for one) from MOTO_PORT, as moto_server sets it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
