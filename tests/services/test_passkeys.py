"""Passkeys across processes (gunicorn -w 4, PostgreSQL, Redis): one recorded passkey answer
posted many times at once from its browser signs in exactly once."""

import json

import pytest
import webauthn
from passkeys.helpers import MEMBER, PAYLOADS, account, assertion

from .conftest import run_parallel

pytestmark = pytest.mark.services

SERVER_ENV = {"WEBAUTHN_RP_ID": PAYLOADS["rp_id"], "WEBAUTHN_ORIGIN": PAYLOADS["origin"]}
PARALLEL = 8


def _store_passkey(server, email=MEMBER):
    rec = account(email)
    verified = webauthn.verify_registration_response(
        credential=rec["registration"]["credential"],
        expected_challenge=webauthn.base64url_to_bytes(rec["registration"]["challenge"]),
        expected_rp_id=PAYLOADS["rp_id"], expected_origin=PAYLOADS["origin"])
    user_id = server.scalar('SELECT id FROM "user" WHERE email = %s', email)
    server.query("INSERT INTO passkey (user_id, credential_id, public_key, sign_count, "
                 "user_handle, transports, aaguid, backed_up, name, created_at) VALUES "
                 "(%s, %s, %s, %s, %s, '', '', false, 'Laptop', now()) RETURNING id",
                 user_id, rec["registration"]["credential"]["id"],
                 verified.credential_public_key, verified.sign_count, rec["user_handle"])


def _options(server, client, path, recorded_challenge, token_from):
    token = client.token(token_from)
    r = client.post(path, {}, headers={"X-CSRFToken": token})
    assert r.status == 200, r.text[:300]
    issued = json.loads(r.text)["challenge"]
    server.query("UPDATE webauthn_challenge SET challenge = %s WHERE challenge = %s "
                 "RETURNING id", recorded_challenge, issued)


def test_one_answer_signs_in_once_however_many_posts_race(gunicorn_server):
    server = gunicorn_server
    _store_passkey(server)
    answer = assertion()
    client = server.client()
    _options(server, client, "/login/passkey/options", answer["challenge"], "/login")
    token = client.token("/login")
    body = {"credential": json.dumps(answer["credential"]), "csrf_token": token}
    results = run_parallel([lambda: client.post("/login/passkey", body)] * PARALLEL)
    statuses = sorted(r.status for r in results)
    assert statuses == [303] + [422] * (PARALLEL - 1), statuses
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = 'login.succeeded' "
                         "AND channel = 'passkey'") == 1
    assert server.scalar("SELECT count(*) FROM webauthn_challenge") == 0
