"""Record the WebAuthn payloads the server tests replay (tests/passkeys/payloads.json).

Run once with `.venv/bin/python tests/passkeys/record_fixtures.py`: Chromium's virtual
authenticator answers navigator.credentials.create()/get() on a blank page at
http://localhost:<port>, with challenges chosen here, and the answers are serialised the way
static/js/passkeys.js posts them. The tests then know every challenge, the origin and the
RP ID, and can vary what the server expects (wrong origin, wrong RP ID, replay, ...).
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).with_name("payloads.json")
JS = (Path(__file__).resolve().parents[2] / "static" / "js" / "passkeys.js").read_text()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Blank(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>record</title>")

    def log_message(self, *args):
        pass


# passkeys.js's serialisation, reached through a copy of the script with a hook.
HOOK = JS.replace("function show(root) {",
                  "window.__credentialJSON = credentialJSON;\n  function show(root) {")

CREATE = """async ([challenge, handle, name]) => {
  const bytes = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/')
      + '='.repeat((4 - t.length % 4) % 4)), c => c.charCodeAt(0));
  const cred = await navigator.credentials.create({publicKey: {
    rp: {id: 'localhost', name: 'Aesthetix CRM'},
    user: {id: bytes(handle), name: name, displayName: name},
    challenge: bytes(challenge), pubKeyCredParams: [{type: 'public-key', alg: -7}],
    authenticatorSelection: {residentKey: 'preferred', userVerification: 'preferred'}}});
  return window.__credentialJSON(cred);
}"""

GET = """async ([challenge, uv]) => {
  const bytes = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/')
      + '='.repeat((4 - t.length % 4) % 4)), c => c.charCodeAt(0));
  const cred = await navigator.credentials.get({publicKey: {
    rpId: 'localhost', challenge: bytes(challenge), userVerification: uv}});
  return window.__credentialJSON(cred);
}"""


def challenge(n: int) -> str:
    return b64(bytes([n]) * 32)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Blank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://localhost:{server.server_address[1]}"
    out = {"rp_id": "localhost", "origin": origin, "accounts": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for n, email in enumerate(("member@example.com", "owner@example.com"), start=1):
            page = browser.new_page()
            page.goto(origin + "/")
            page.add_script_tag(content=HOOK)
            cdp = page.context.new_cdp_session(page)
            cdp.send("WebAuthn.enable", {"enableUI": False})
            options = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                       "hasUserVerification": True, "isUserVerified": True,
                       "automaticPresenceSimulation": True}
            aid = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})[
                "authenticatorId"]
            handle = b64(bytes([n]) * 32)
            account = {"user_handle": handle,
                       "registration": {"challenge": challenge(10 * n)}}
            account["registration"]["credential"] = json.loads(page.evaluate(
                CREATE, [challenge(10 * n), handle, email]))
            account["assertions"] = []
            for i in range(1, 3):  # two in a row, counters 1 then 2 above the registration
                c = challenge(10 * n + i)
                account["assertions"].append({"challenge": c, "user_verified": True,
                                              "credential": json.loads(page.evaluate(
                                                  GET, [c, "preferred"]))})
            # The user not verified (asked with "discouraged"): the UV flag is off.
            cdp.send("WebAuthn.setUserVerified", {"authenticatorId": aid,
                                                   "isUserVerified": False})
            c = challenge(10 * n + 9)
            account["assertions"].append({"challenge": c, "user_verified": False,
                                          "credential": json.loads(page.evaluate(
                                              GET, [c, "discouraged"]))})
            out["accounts"][email] = account
            page.close()
        browser.close()
    server.shutdown()
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
