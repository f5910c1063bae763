"""Mail from the portal (password resets; the owners' notifications, portal/notify.py) through
the operator's SMTP server (stdlib smtplib, run in a worker thread). Without SMTP settings the
portal sends nothing and says so: a reset token is never written anywhere else.

    wattwerk portal --smtp-host mail.example.org --smtp-port 587 --smtp-starttls \\
        --smtp-from portal@example.org --smtp-user portal --smtp-password-file /etc/wattwerk/smtp \\
        --public-url https://portal.example.org
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str  # From:
    port: int = 587
    starttls: bool = True  # STARTTLS before AUTH (port 587); False for a relay on loopback
    tls: bool = False  # TLS from the first byte (port 465)
    user: str | None = None
    password: str | None = None
    timeout_s: float = 20.0


def reset_message(
    config: SmtpConfig, to: str, alias: str, token: str, public_url: str | None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = to
    msg["Subject"] = "wattwerk: reset your password"
    where = (
        f"{public_url.rstrip('/')}/api/v1/password-reset/confirm"
        if public_url
        else "the portal's POST /api/v1/password-reset/confirm"
    )
    msg.set_content(
        f"Someone (hopefully you) asked to reset the password of the wattwerk account {alias!r}.\n\n"
        f"Reset token (valid for one hour, once):\n\n    {token}\n\n"
        f"Send it with your new password to {where}\n"
        "If you did not ask for this, ignore this message; your password stays as it is.\n"
    )
    return msg


def _send(config: SmtpConfig, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if config.tls else smtplib.SMTP
    kwargs = {"context": context} if config.tls else {}
    with smtp_class(config.host, config.port, timeout=config.timeout_s, **kwargs) as smtp:
        if config.starttls and not config.tls:
            smtp.starttls(context=context)
        if config.user:
            smtp.login(config.user, config.password or "")
        smtp.send_message(msg)


async def send(config: SmtpConfig, msg: EmailMessage) -> bool:
    """Send one message; False (logged without the body) when the server refuses or is away."""
    try:
        await asyncio.to_thread(_send, config, msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail to %s via %s:%d failed: %s", msg["To"], config.host, config.port, exc)
        return False
    return True
