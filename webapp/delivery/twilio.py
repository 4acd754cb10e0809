"""SMS through Twilio's Messages API with the official `twilio` package (SMS_BACKEND=twilio).

A refusal from Twilio becomes an `SmsRefused` that says what went wrong in words the person
can act on (`user_message`, a msgid) and in a short fixed word for the audit and the metrics
(`reason`); the provider's own text, which may quote the number, goes to the log only.
"""

import functools
import logging

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..security import N_
from . import DeliveryError

log = logging.getLogger(__name__)

API_ORIGIN = "https://api.twilio.com"

INVALID_NUMBER = N_("This phone number can't receive text messages. Check the number or "
                    "choose another method.")
REGION = N_("We can't send text messages to this country. Choose another method.")
OPTED_OUT = N_("This phone number has turned off our text messages (it replied STOP). "
               "Choose another method.")
BUSY = N_("Text messages are busy right now. Wait a minute and try again, or choose another "
          "method.")
UNAVAILABLE = N_("Text messages aren't available right now. Try again later or choose "
                 "another method.")

# Twilio error codes (https://www.twilio.com/docs/api/errors) -> (reason, message).
ERRORS = {
    21211: ("invalid_number", INVALID_NUMBER),   # invalid 'To' number
    21614: ("invalid_number", INVALID_NUMBER),   # 'To' is not a mobile number
    21408: ("region", REGION),                   # permission not enabled for the region
    21612: ("region", REGION),                   # this 'To' can't be reached from this 'From'
    21610: ("opted_out", OPTED_OUT),             # the recipient replied STOP
    20429: ("rate_limited", BUSY),               # too many requests
    14107: ("rate_limited", BUSY),               # message rate exceeded
    20003: ("auth", UNAVAILABLE),                # wrong account SID or auth token
}


class SmsRefused(DeliveryError):
    """Twilio did not take the message: `reason` for the records, `user_message` for people."""

    def __init__(self, reason: str, user_message: str, detail: str = ""):
        super().__init__(f"Twilio refused the SMS: {reason}")
        self.reason, self.user_message, self.detail = reason, user_message, detail


class _Rebased(TwilioHttpClient):
    """The stock HTTP client with Twilio's origin swapped for another one (TWILIO_API_BASE:
    a test double on loopback). Twilio's documented way to change requests is a custom
    http_client; everything else (auth, form encoding, timeout, errors) stays the library's."""

    def __init__(self, base: str, **kwargs):
        super().__init__(**kwargs)
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(API_ORIGIN):
            url = self.base + url[len(API_ORIGIN):]
        return super().request(method, url, *args, **kwargs)


@functools.lru_cache(maxsize=4)
def _client(sid: str, token: str, base: str, timeout: float) -> Client:
    """One client (and its connection pool) per process and settings."""
    http = _Rebased(base, timeout=timeout) if base else TwilioHttpClient(timeout=timeout)
    return Client(sid, token, http_client=http)


def classify(status: int | None, code: int | None) -> tuple[str, str]:
    """(reason, message) for an HTTP status and a Twilio error code."""
    if code in ERRORS:
        return ERRORS[code]
    if status == 429:
        return "rate_limited", BUSY
    if status in (401, 403):
        return "auth", UNAVAILABLE
    if status is not None and status >= 500:
        return "unavailable", UNAVAILABLE
    return "refused", UNAVAILABLE


def send(config, to: str, body: str) -> str:
    """Hand one SMS to Twilio; the message SID on success.

    :raise SmsRefused: Twilio refused it, failed, or did not answer in SMS_TIMEOUT seconds.
    """
    client = _client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                     config.get("TWILIO_API_BASE") or "", float(config["SMS_TIMEOUT"]))
    sender = ({"messaging_service_sid": config["TWILIO_MESSAGING_SERVICE_SID"]}
              if config.get("TWILIO_MESSAGING_SERVICE_SID")
              else {"from_": config["TWILIO_FROM"]})
    try:
        message = client.messages.create(to=to, body=body, **sender)
    except TwilioException as exc:
        status, code = getattr(exc, "status", None), getattr(exc, "code", None)
        reason, text = classify(status, code)
        level = logging.ERROR if reason in ("auth", "refused") else logging.WARNING
        # The operator needs the code; the number stays out of the log.
        log.log(level, "Twilio refused an SMS: status=%s code=%s reason=%s",
                status, code, reason)
        raise SmsRefused(reason, text, f"status={status} code={code}") from exc
    except requests.Timeout as exc:
        log.warning("Twilio did not answer within SMS_TIMEOUT")
        raise SmsRefused("timeout", UNAVAILABLE) from exc
    except requests.RequestException as exc:
        log.warning("Twilio unreachable: %s", exc.__class__.__name__)
        raise SmsRefused("unavailable", UNAVAILABLE) from exc
    return message.sid
