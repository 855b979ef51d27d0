"""A TCP proxy a test can cut and restore, to make a real database or broker unreachable for a while.

The proxy runs as its own OS process (plain threads, no eventlet), so cutting it cannot disturb the
green sockets of the service under test: `cut()` kills the process, `restore()` starts a new one on
the same port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target_host, self.target_port = target_host, target_port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> TcpProxy:
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(self.port), self.target_host, str(self.target_port)]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("proxy did not start")

    def cut(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restore(self) -> None:
        self.start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _serve(port: int, host: str, target_port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
