"""A local HTTP(S)-like UniProt mirror for tests: ``http.server`` on a free port, in a thread.

Serves files from a directory, adds ``X-UniProt-Release`` when ``release`` is set, and can cut a file
short (``truncate``: name -> bytes actually sent, while Content-Length announces the full size), the way
a dropped download looks to a client.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    mirror: UniProtMirror

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.mirror.downloads += 1
        super().do_GET()

    def end_headers(self) -> None:
        if self.mirror.release:
            self.send_header("X-UniProt-Release", self.mirror.release)
        super().end_headers()

    def copyfile(self, source, outputfile) -> None:
        name = Path(self.path.split("?")[0]).name
        limit = self.mirror.truncate.get(name)
        if limit is None:
            return super().copyfile(source, outputfile)
        outputfile.write(source.read(limit))
        self.close_connection = True


class UniProtMirror:
    def __init__(self, root: Path, release: str | None = None) -> None:
        self.root = Path(root)
        self.release = release
        self.truncate: dict[str, int] = {}
        self.downloads = 0  # GET requests (HEAD requests are not counted)
        handler = type("Handler", (_Handler,), {"mirror": self})
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.root))
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> UniProtMirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
