"""A raw-socket HTTP/1.1 server on 127.0.0.1 that answers with a script: key servers that drip, stall or bomb.

`jwtguard.testing.KeyServer` answers like a well-behaved key server; this one sends exactly the bytes a
test writes, at the pace it chooses, and reports when the client has hung up, so a test can see whether
a fetch really let go of its connection.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

#: A script never drips longer than this, so a fetch that fails to hang up cannot stall the run.
DRIP_LIMIT = 20.0


class Connection:
    """One accepted connection, as a script sees it: the request head, and ways to answer."""

    def __init__(self, sock: socket.socket, request: bytes, stopping: threading.Event) -> None:
        self.request = request
        self._sock = sock
        self._stopping = stopping

    def send(self, data: bytes) -> bool:
        """Send `data`; False if the client has gone."""
        try:
            self._sock.sendall(data)
        except OSError:
            return False
        return True

    def client_gone(self) -> bool:
        """True once the client has closed its end (it sends nothing after its request)."""
        readable, _, _ = select.select([self._sock], [], [], 0)
        if not readable:
            return False
        try:
            return self._sock.recv(4096) == b""
        except OSError:
            return True

    def drip(self, pieces: Iterable[bytes], interval: float) -> None:
        """Send one piece every `interval` seconds until the client hangs up (or the server stops)."""
        ends = time.monotonic() + DRIP_LIMIT
        for piece in pieces:
            if self._stopping.wait(interval) or time.monotonic() > ends or self.client_gone():
                return
            if not self.send(piece):
                return


Script = Callable[[Connection], None]


def answer(body: bytes, *headers: str, status: str = "200 OK") -> Script:
    """A script that sends one complete response and closes the connection."""
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    response = ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def script(connection: Connection) -> None:
        connection.send(response)

    return script


class ScriptedServer:
    """Serves every connection with `script` (which a test may swap), in a thread per connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self._open = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so the accept loop notices stop()
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.url = self.base_url + "/.well-known/jwks.json"
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="scripted-server", daemon=True)

    @property
    def open_connections(self) -> int:
        with self._changed:
            return self._open

    def wait_until_closed(self, timeout: float) -> bool:
        """Block until every connection accepted so far has been closed by its client; True if so."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open == 0, timeout=timeout)

    def header(self, request: int, name: str) -> str | None:
        """The value of header `name` in the `request`-th request received."""
        for line in self.requests[request].decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def start(self) -> ScriptedServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._changed:
                self._open += 1
            thread = threading.Thread(target=self._serve, args=(sock,), name="scripted-connection", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                data = sock.recv(4096)
                if not data:
                    return
                request += data
            with self._changed:
                self.requests.append(request)
            self.script(Connection(sock, request, self._stopping))
        except OSError:
            pass
        finally:
            sock.close()
            with self._changed:
                self._open -= 1
                self._changed.notify_all()
