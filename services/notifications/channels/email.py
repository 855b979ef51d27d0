"""Email channel: multipart (plain text + HTML) over SMTP, optional STARTTLS and login."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message
from services.notifications.channels.settings import channel_settings_of

if TYPE_CHECKING:
    from shared.config import Settings


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25,
        from_address: str = "Diversion Program <no-reply@localhost>",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_seconds = timeout_seconds
        self.ssl_context = ssl_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        own = channel_settings_of(settings)
        return cls(
            host=own.smtp_host,
            port=own.smtp_port,
            from_address=own.smtp_from,
            starttls=own.smtp_starttls,
            username=own.smtp_username,
            password=own.smtp_password,
            timeout_seconds=own.smtp_timeout_seconds,
        )

    def build(self, message: Message) -> EmailMessage:
        """The MIME message; raises ValueError for header injection (CR/LF) or a bad address."""
        if "@" not in parseaddr(message.recipient)[1]:
            raise ValueError(f"{message.recipient!r} is not an email address")
        email = EmailMessage()
        email["From"] = self.from_address
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "localhost"
        # Stable across retries, so a receiving system can drop a duplicate.
        email["Message-ID"] = f"<{message.id}@{domain}>"
        for key, value in message.headers.items():
            email[key] = value
        email.set_content(message.body)
        if message.html is not None:
            email.add_alternative(message.html, subtype="html")
        return email

    def send(self, message: Message) -> AttemptResult:
        try:
            email = self.build(message)
        except ValueError as exc:
            return AttemptResult(AttemptStatus.FAILED, error=f"message not sendable: {exc}")
        started = time.monotonic()
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
            status = AttemptStatus.RETRY if code is not None and 400 <= code < 500 else AttemptStatus.FAILED
            return AttemptResult(
                status, status_code=code, latency_ms=_since(started), error="recipient refused"
            )
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition (RFC 5321); 5xx are permanent.
            status = AttemptStatus.RETRY if 400 <= exc.smtp_code < 500 else AttemptStatus.FAILED
            return AttemptResult(
                status, status_code=exc.smtp_code, latency_ms=_since(started), error=f"SMTP {exc.smtp_code}"
            )
        except (smtplib.SMTPException, OSError) as exc:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"SMTP unavailable: {type(exc).__name__}",
            )
        return AttemptResult(AttemptStatus.DELIVERED, status_code=250, latency_ms=_since(started))


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
