"""A loopback HTTP server that answers like Twilio's Messages endpoint.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` or
`MessagingServiceSid`, `Body`, HTTP basic auth with the account SID and auth token; JSON
answers shaped like Twilio's, its error bodies included
(https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions).
"""

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "f" * 32  # a made-up token for the double  # noqa: S105
FROM = "+15005550006"
SERVICE_SID = "MG" + "b2" * 16
PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")


def error_body(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


# What Twilio answers for the failures the backend maps (status, JSON body or raw text).
ERRORS = {
    "invalid_number": (400, error_body(400, 21211,
                                       "The 'To' number +12025550103 is not a valid phone "
                                       "number.")),
    "region": (400, error_body(400, 21408, "Permission to send an SMS has not been enabled "
                                           "for the region indicated by the 'To' number: "
                                           "+12025550103.")),
    "opted_out": (400, error_body(400, 21610, "Attempt to send to unsubscribed recipient")),
    "rate_limited": (429, error_body(429, 20429, "Too Many Requests")),
    "server_error": (500, "<html><body>Internal Server Error</body></html>"),
    "unavailable": (503, error_body(503, 20503, "Service Unavailable")),
}


class FakeTwilio:
    """The running double: what it received, and what it answers next."""

    def __init__(self):
        self.messages: list[dict] = []
        self.requests: list[dict] = []
        self.answer = None  # (status, body) for every request while set
        self.delay = 0.0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail(self, kind: str) -> None:
        self.answer = ERRORS[kind]

    def settings(self, **overrides) -> dict:
        return {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM": FROM,
                "TWILIO_API_BASE": self.url, "SMS_TIMEOUT": 1, **overrides}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append({"path": self.path, "form": form,
                                      "auth": self.headers.get("Authorization", ""),
                                      "content_type": self.headers.get("Content-Type", "")})
                if fake.delay:
                    time.sleep(fake.delay)
                match = PATH.match(self.path)
                if not match:
                    return self.reply(404, error_body(404, 20404, "The requested resource "
                                                                  f"{self.path} was not found"))
                expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if match.group(1) != ACCOUNT_SID or \
                        self.headers.get("Authorization") != f"Basic {expected}":
                    return self.reply(401, {**error_body(401, 20003, "Authenticate"),
                                            "detail": "Your AccountSid or AuthToken was "
                                                      "incorrect."})
                if fake.answer is not None:
                    return self.reply(*fake.answer)
                if not form.get("To"):
                    return self.reply(400, error_body(400, 21604,
                                                      "A 'To' phone number is required."))
                if not (form.get("From") or form.get("MessagingServiceSid")):
                    return self.reply(400, error_body(400, 21603,
                                                      "A 'From' phone number is required."))
                if not re.fullmatch(r"\+[1-9]\d{6,14}", form["To"]):
                    return self.reply(400, error_body(
                        400, 21211, f"The 'To' number {form['To']} is not a valid phone number."))
                sid = "SM" + uuid.uuid4().hex
                fake.messages.append(form)
                return self.reply(201, {
                    "account_sid": ACCOUNT_SID, "api_version": "2010-04-01",
                    "body": form.get("Body"), "date_created": "Sun, 29 Nov 2026 18:00:00 +0000",
                    "date_sent": None, "date_updated": "Sun, 29 Nov 2026 18:00:00 +0000",
                    "direction": "outbound-api", "error_code": None, "error_message": None,
                    "from": form.get("From"),
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
                    "sid": sid, "status": "queued", "subresource_uris": {},
                    "to": form["To"],
                    "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"})

            def reply(self, status, body):
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(body, str)
                                 else "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
