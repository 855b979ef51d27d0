"""A local mail catcher for `diversion run`: an SMTP server on loopback that keeps every message as a file.

On a developer's machine the suite must never email a real person, yet a newcomer should see the reminder
and staff emails the suite writes. `diversion run` starts this catcher (unless SMTP is configured) and points
notifications at it; each accepted message becomes `<directory>/<UTC time>-<id>.eml`, written to a temporary
name first so a reader never sees half a message. `diversion demo` reads the same directory.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_PORT = 1025


class _KeepAsFile:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}"
        partial = self.directory / f".{name}.tmp"
        # The envelope recipients are what SMTP delivered to; keep them with the message (Bcc has no header).
        partial.write_bytes(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n" + content)
        os.replace(partial, self.directory / f"{name}.eml")
        return "250 Message accepted for delivery"


class MailCatcher:
    """`start()` listens on host:port; `stop()` closes; `messages()` reads what arrived, oldest first."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.directory, self.host, self.port = Path(directory), host, port
        self._controller: Controller | None = None

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller  # asyncio in a thread: only the processes that catch mail

        self.directory.mkdir(parents=True, exist_ok=True)
        controller = Controller(_KeepAsFile(self.directory), hostname=self.host, port=self.port,
                                ready_timeout=10)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise OSError(f"the mail catcher cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        return read_mailbox(self.directory)


def read_mailbox(directory: Path) -> list[EmailMessage]:
    """Every caught message in `directory`, oldest first (an absent directory holds none)."""
    if not Path(directory).is_dir():
        return []
    found = []
    for path in sorted(Path(directory).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    """The plain-text body (the first text/plain part of a multipart message)."""
    part = message.get_body(preferencelist=("plain",))
    return "" if part is None else str(part.get_content())
