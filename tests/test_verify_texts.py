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


def test_two_factor_section_offers_verifying_the_email_first(client, dbconn):
    """Bug 10, authenticator side: "Verify your email first" comes with the button that
    starts it, a plain CSRF-protected form that works without JavaScript."""
    signin(client, "newbie@example.com")
    User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    html = client.get("/settings/profile").get_data(as_text=True)
    section = html[html.index('id="two-factor"'):]
    section = section[:section.index("</section>")]
    assert "data-needs-email" in section and 'data-action="setup-totp"' not in section
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" '
                     r'name="csrf_token" value="([^"]+)">\s*<button[^>]*data-next-step='
                     r'"verify-email"', section)
    assert form and form.group(1) == "/settings/profile/verify-email"
    r = client.post(form.group(1), data={"csrf_token": form.group(2)})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert "Verify your email" in client.get(r.headers["Location"]).get_data(as_text=True)
