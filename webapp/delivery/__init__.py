"""Email and SMS transports: the outbox (development, tests), SMTP, and an SMS webhook."""

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

from .. import metrics
from ..models import OutboxMessage


class DeliveryError(RuntimeError):
    """A message could not be handed to its transport."""


def send_email(config, to: str, subject: str, body: str, html: str | None = None) -> None:
    """One email: the text part, and with `html` an HTML alternative (multipart/alternative)."""
    backend = config["MAIL_BACKEND"]
    if backend == "outbox":
        OutboxMessage.create(kind="email", to=to, subject=subject, body=body, html=html)
        return
    if backend != "smtp":
        raise DeliveryError(f"Unknown MAIL_BACKEND {backend!r}")
    msg = EmailMessage()
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="aesthetix.example")
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]),
                          timeout=config["MAIL_TIMEOUT"]) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP delivery failed: {exc.__class__.__name__}") from exc


def send_sms(config, to: str, body: str) -> None:
    backend = config["SMS_BACKEND"]
    if backend == "outbox":
        OutboxMessage.create(kind="sms", to=to, body=body)
        return
    if backend == "twilio":
        from . import twilio  # imports this module (DeliveryError)

        twilio.send(config, to, body)
        return
    if backend != "webhook":
        raise DeliveryError(f"Unknown SMS_BACKEND {backend!r}")
    url = config["SMS_WEBHOOK_URL"]
    if not url.startswith(("http://", "https://")):
        raise DeliveryError("SMS_WEBHOOK_URL must be an http(s) URL")
    data = json.dumps({"to": to, "body": body}).encode()
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=config["SMS_TIMEOUT"]) as resp:  # noqa: S310  # nosec B310
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"SMS webhook answered {resp.status}")
    except (OSError, urllib.error.URLError) as exc:
        raise DeliveryError(f"SMS webhook failed: {exc.__class__.__name__}") from exc


# Every hand-off is counted by channel and outcome (webapp/metrics.py, /metrics).
send_email = metrics.counted("email")(send_email)
send_sms = metrics.counted("sms")(send_sms)
