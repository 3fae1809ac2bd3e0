"""Email through the standard library's ``smtplib``: plain SMTP, STARTTLS or implicit TLS, from one URL."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import dagster as dg
from pydantic import Field

from vast_pipelines.domain.outbox import Delivery
from vast_pipelines.errors import OperatorError, redact

DEFAULT_TO = "platform-ops@bluefly.io"

# scheme -> (security, default port)
SCHEMES = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to deliver: host, port, ``plain``/``starttls``/``tls``, and the optional login."""

    security: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """The server as messages may show it: never the password."""
        user = f"{self.username}@" if self.username else ""
        scheme = {v[0]: k for k, v in SCHEMES.items()}[self.security]
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://user:pass@host:port``, ``smtp+starttls://...`` or ``smtps://...``; errors never show the password."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OperatorError("SMTP_URL is not a URL like smtp+starttls://user:password@host:587") from None
    if parts.scheme not in SCHEMES:
        raise OperatorError(
            f"SMTP_URL scheme {parts.scheme or '(none)'!r} is not one of {', '.join(SCHEMES)} "
            "(e.g. smtp+starttls://user:password@smtp.example.com:587)"
        )
    if not parts.hostname:
        raise OperatorError("SMTP_URL has no host (e.g. smtp+starttls://user:password@smtp.example.com:587)")
    security, default_port = SCHEMES[parts.scheme]
    return SmtpTarget(
        security=security,
        host=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class EmailResource(dg.ConfigurableResource):
    """Sends the guide's alert emails to platform-ops; without SMTP_URL, they wait in the outbox."""

    smtp_url: str | None = Field(
        default=None, description="SMTP_URL: smtp://, smtp+starttls:// or smtps://user:password@host:port"
    )
    to: str = Field(default=DEFAULT_TO, description="ALERT_EMAIL_TO: comma-separated recipients")
    sender: str | None = Field(
        default=None,
        description="ALERT_EMAIL_FROM; unset: the SMTP login if it is an address, else the first recipient",
    )
    timeout_seconds: float = Field(default=15.0, description="Per SMTP connection.")

    @property
    def configured(self) -> bool:
        """Whether an SMTP server is set."""
        return bool(self.smtp_url)

    def recipients(self, to: str | None = None) -> list[str]:
        """``to`` (default ALERT_EMAIL_TO) as a list of addresses."""
        return [address.strip() for address in (to or self.to).split(",") if address.strip()]

    def from_address(self, target: SmtpTarget | None = None) -> str:
        """ALERT_EMAIL_FROM, or the SMTP login when it is an address, or the first recipient."""
        if self.sender:
            return self.sender
        if target and target.username and "@" in target.username:
            return target.username
        return (self.recipients() or [DEFAULT_TO])[0]

    def send(self, subject: str, body: str, to: str | None = None) -> Delivery:
        """Send one plain-text email to ``to`` (default ALERT_EMAIL_TO); never raises, never shows the password."""
        if not self.configured:
            return Delivery("not_configured", error="SMTP_URL is not set")
        try:
            target = parse_smtp_url(self.smtp_url or "")
        except OperatorError as exc:
            return Delivery("failed", error=str(exc))
        recipients = self.recipients(to)
        if not recipients:
            return Delivery("failed", error="ALERT_EMAIL_TO has no address")
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.from_address(target)
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="vast-pipelines.local")
        message.set_content(body)
        try:
            with self._connect(target) as smtp:
                if target.username:
                    smtp.login(target.username, target.password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            return self._failed(
                target, f"the server rejected the login of {target.username} ({exc.smtp_code}): check SMTP_URL"
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return self._failed(target, f"recipients refused ({', '.join(exc.recipients)}): check ALERT_EMAIL_TO")
        except smtplib.SMTPSenderRefused as exc:
            return self._failed(target, f"sender {exc.sender} refused ({exc.smtp_code}): check ALERT_EMAIL_FROM")
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            return self._failed(target, f"the server answered {exc.smtp_code} {text}")
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            return self._failed(target, f"unreachable: {type(exc).__name__}: {exc}")
        return Delivery("delivered", ref=message["Message-ID"])

    def _connect(self, target: SmtpTarget) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if target.security == "tls":
            return smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout_seconds, context=context)
        smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout_seconds)
        if target.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _failed(self, target: SmtpTarget, reason: str) -> Delivery:
        return Delivery("failed", error=redact(f"SMTP {target.display}: {reason}", target.password)[:500])
