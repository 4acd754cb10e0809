"""The no-channel answer as plain forms: the "Verify your email" form it carries is a real
CSRF-protected POST that starts the email verification without JavaScript."""

import re

from conftest import post, signin, user

from webapp.models import User


def test_no_channel_page_carries_a_working_verify_email_form(client, dbconn):
    signin(client, "newbie@example.com")
    User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    noah = user("newbie@example.com")
    r = post(client, "/settings/profile",
             {"name": noah.name, "email": noah.email, "phone": "+12025550157"})
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" '
                     r'name="csrf_token" value="([^"]+)">\s*<button[^>]*data-next-step='
                     r'"verify-email"', html)
    assert form and form.group(1) == "/settings/profile/verify-email"
    r = client.post(form.group(1), data={"csrf_token": form.group(2)})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert "Verify your email" in client.get(r.headers["Location"]).get_data(as_text=True)
