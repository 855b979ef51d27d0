"""Email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from services.notifications.channels import AttemptStatus, Message
from services.notifications.channels.email import EmailChannel
from services.notifications.templates import TemplateRenderer

from .conftest import MailSink, free_port


def reminder_message(to: str) -> Message:
    email = TemplateRenderer().render_email(
        "appointment_reminder",
        {
            "first_name": "Ana",
            "appointment_at": datetime(2025, 3, 4, 14, 30, tzinfo=ZoneInfo("America/Chicago")),
            "place": "1114 Market St",
            "agency_name": "Circuit Attorney's Office",
        },
        language="es",
    )
    return Message(id="rem-123", recipient=to, subject=email.subject, body=email.text, html=email.html)


def test_reminder_email_arrives_as_multipart_text_and_html(smtp_server: tuple[int, MailSink]) -> None:
    port, sink = smtp_server
    channel = EmailChannel(host="127.0.0.1", port=port, from_address="Diversion <no-reply@cao.example>")
    result = channel.send(reminder_message("ana@example.org"))
    assert result.status is AttemptStatus.DELIVERED

    [envelope] = sink.envelopes
    assert envelope.rcpt_tos == ["ana@example.org"]
    assert envelope.mail_from == "no-reply@cao.example"
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "Recordatorio: su cita el martes 4 de marzo a las 14:30"
    assert mail["To"] == "ana@example.org"
    assert mail["Message-ID"] == "<rem-123@cao.example>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Hola Ana" in text.get_content() and "1114 Market St" in text.get_content()
    assert "<p>Hola Ana:</p>" in html.get_content()


def test_refused_recipient_fails_permanently(smtp_server: tuple[int, MailSink]) -> None:
    port, sink = smtp_server
    result = EmailChannel(port=port).send(
        Message(id="m1", recipient="x@refused.example", subject="s", body="b")
    )
    assert result.status is AttemptStatus.FAILED and result.status_code == 550
    assert sink.envelopes == []


def test_temporarily_refused_recipient_is_retried(smtp_server: tuple[int, MailSink]) -> None:
    port, _ = smtp_server
    busy = Message(id="m1", recipient="x@busy.example", subject="s", body="b")
    result = EmailChannel(port=port).send(busy)
    assert result.status is AttemptStatus.RETRY and result.status_code == 451


def test_unreachable_smtp_server_is_retried() -> None:
    result = EmailChannel(port=free_port(), timeout_seconds=2).send(
        Message(id="m1", recipient="a@example.org", subject="s", body="b")
    )
    assert result.status is AttemptStatus.RETRY


def test_subject_with_a_line_break_cannot_inject_headers(smtp_server: tuple[int, MailSink]) -> None:
    port, sink = smtp_server
    result = EmailChannel(port=port).send(
        Message(id="m1", recipient="a@example.org", subject="hi\r\nBcc: victim@example.org", body="b")
    )
    assert result.status is AttemptStatus.FAILED
    assert sink.envelopes == []
