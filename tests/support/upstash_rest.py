"""A loopback server that speaks Upstash's REST protocol in front of a real Redis.

POST / with a JSON command array → {"result": …} or {"error": …}; POST /pipeline and /multi-exec with an
array of commands → an array of those. `Authorization: Bearer <token>` is required; with
`Upstash-Encoding: base64` every string in a result except "OK" is base64-encoded, as Upstash does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis


class _Server(ThreadingHTTPServer):
    request_queue_size = 256


class UpstashRestServer:
    def __init__(self, redis_url: str, token: str) -> None:
        self.token = token
        self.pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=64, timeout=5, protocol=2
        )
        self.commands_served = 0
        self._sockets: set = set()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> UpstashRestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut the open keep-alive connections too, as a real outage would."""
        self._server.shutdown()
        self._server.server_close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.pool.disconnect()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the body waited for the
            # client's delayed ACK (about 40 ms a request on a kept-alive connection).
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                server._sockets.add(self.connection)

            def finish(self) -> None:
                server._sockets.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._reply(401, {"error": "Unauthorized"})
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                except json.JSONDecodeError:
                    return self._reply(400, {"error": "ERR failed to parse command"})
                b64 = self.headers.get("Upstash-Encoding") == "base64"
                path = self.path.rstrip("/")
                if path == "":
                    status, reply = server.single(body, b64)
                elif path == "/pipeline":
                    status, reply = 200, [server.single(command, b64)[1] for command in body]
                elif path == "/multi-exec":
                    status, reply = server.transaction(body, b64)
                else:
                    status, reply = 404, {"error": f"ERR unknown endpoint {self.path}"}
                self._reply(status, reply)

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def single(self, command: list, b64: bool) -> tuple[int, dict]:
        self.commands_served += 1
        connection = self.pool.get_connection()
        try:
            connection.send_command(*command)
            result = connection.read_response()
        except redis.ResponseError as exc:
            return 400, {"error": str(exc)}
        finally:
            self.pool.release(connection)
        return 200, {"result": encode(result, b64)}

    def transaction(self, commands: list[list], b64: bool) -> tuple[int, Any]:
        self.commands_served += len(commands)
        connection = self.pool.get_connection()
        try:
            connection.send_command("MULTI")
            connection.read_response()
            for command in commands:
                connection.send_command(*command)
                try:
                    connection.read_response()
                except redis.ResponseError as exc:
                    connection.send_command("DISCARD")
                    connection.read_response()
                    return 400, {"error": f"EXECABORT {exc}"}
            connection.send_command("EXEC")
            results = connection.read_response()
        finally:
            self.pool.release(connection)
        return 200, [
            {"error": str(item)} if isinstance(item, redis.ResponseError) else {"result": encode(item, b64)}
            for item in results
        ]


def encode(value: Any, b64: bool) -> Any:
    if isinstance(value, bytes):
        if value == b"OK":
            return "OK"
        return base64.b64encode(value).decode() if b64 else value.decode()
    if isinstance(value, list):
        return [encode(item, b64) for item in value]
    if isinstance(value, redis.ResponseError):
        return str(value)
    return value
