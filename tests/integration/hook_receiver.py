"""A real local HTTP server that plays a CRM's webhook endpoint: it answers the statuses
it is told to (say 500, 500, then 200), and keeps every request it got."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what we answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HookReceiver:
    def __init__(self, default_status: int = 200) -> None:
        self.default_status = default_status
        self.plan: deque[int] = deque()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.plan.popleft() if receiver.plan else receiver.default_status
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> HookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, *statuses: int, then: int | None = None) -> None:
        with self.lock:
            self.plan.extend(statuses)
            if then is not None:
                self.default_status = then

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def delivered(self) -> list[Received]:
        return [r for r in self.requests() if 200 <= r.status < 300]
