"""The HTTP server's own refusals as problem+json: oversized headers, bad request lines, bad framing.

eventlet's WSGI server answers these itself, before any application code runs, with a bare
`400 Header Line Too Long` or an HTML page. This protocol gives them the suite's error shape
(RFC 9457) with the right status: 431 for a header line or header block beyond the server's limits
(a 20 kB bearer token, say), 400 for a request line or framing it cannot read.
"""

from __future__ import annotations

import json
from typing import Any

from eventlet.wsgi import HeaderLineTooLong, HeadersTooLarge
from nameko.web.server import HttpOnlyProtocol

from shared.http.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

SLUGS = {400: "malformed-request", 414: "uri-too-long", 431: "headers-too-large", 505: "http-version-not-supported"}


class ProblemHttpProtocol(HttpOnlyProtocol):  # type: ignore[misc]
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._problem(int(code), message or self.responses.get(code, ("Error",))[0], explain)

    def _problem(self, status: int, title: str, detail: str | None = None) -> None:
        document: dict[str, Any] = {"type": PROBLEM_BASE + SLUGS.get(status, "malformed-request"),
                                    "title": title, "status": status}
        if detail:
            document["detail"] = detail
        body = json.dumps(document).encode()
        self.log_error("code %d, message %s", status, title)
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('Error',))[0]}\r\n"
                f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + body)
        self.close_connection = True

    def parse_request(self) -> bool:
        try:
            if not super().parse_request():
                return False
        except HeaderLineTooLong:
            self._problem(431, "Request header fields too large",
                          "a header line is longer than 8192 bytes (a bearer token, perhaps)")
            return False
        except HeadersTooLarge:
            self._problem(431, "Request header fields too large", "the headers are larger than 65536 bytes")
            return False
        # eventlet refuses these next, with a bare 400; refuse them here with a problem instead.
        length = self.headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                self._problem(400, "Malformed request", "Content-Length is not a non-negative integer")
                return False
            if self.headers.get("transfer-encoding") is not None:
                self._problem(400, "Malformed request", "Content-Length and Transfer-Encoding are not allowed together")
                return False
        return True
