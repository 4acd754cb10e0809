"""The team list and a member's page: content, search, pagination, escaping, both answers."""

import re

import pytest
from conftest import HTMX, post, user

from webapp.extensions import db
from webapp.models import AuditEvent, Challenge, Membership, User


def member_row(html, email):
    return re.search(rf'<tr data-member="{user(email).id}">.*?</tr>', html, re.S).group(0)


def test_members_cannot_see_the_team(member_client, dbconn):
    r = member_client.get("/settings/team")
    assert r.status_code == 403
    assert member_client.get("/settings/team", headers=HTMX).status_code == 403
    assert AuditEvent.select().where(AuditEvent.event == "authz.denied").count() == 2


def test_signed_out_goes_to_login(client):
    r = client.get("/settings/team")
    assert r.status_code == 303 and "/login" in r.headers["Location"]


def test_team_list_shows_members_with_masked_phone_and_badges(admin_client, dbconn):
    html = admin_client.get("/settings/team").get_data(as_text=True)
    assert "<html" in html and 'href="/settings/team"' in html  # the nav link
    for email in ("owner@example.com", "admin@example.com", "member@example.com",
                  "casey@example.com", "newbie@example.com"):
        assert email in html
    assert "+12025550103" not in html and "•••• 0103" in html
    row = member_row(html, "casey@example.com")
    assert 'data-badge="email-verified"' in row and 'data-badge="phone-verified"' not in row
    admin_row = member_row(html, "admin@example.com")
    assert "Never" not in admin_row  # signed in just now


def test_search_as_you_type_and_plain_get(admin_client, dbconn):
    page = admin_client.get("/settings/team").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert '<form method="get" action="/settings/team"' in page
    r = admin_client.get("/settings/team?q=casey", headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert "casey@example.com" in html and "member@example.com" not in html
    # Search by name, case-insensitively, without JavaScript (full page).
    html = admin_client.get("/settings/team?q=NOAH").get_data(as_text=True)
    assert "<html" in html and "newbie@example.com" in html and "casey@example.com" not in html
    html = admin_client.get("/settings/team?q=%25").get_data(as_text=True)
    assert "No one matches" in html


def test_other_organisations_are_not_listed(admin_client, other_org, dbconn):
    html = admin_client.get("/settings/team?q=stranger").get_data(as_text=True)
    assert "stranger@elsewhere.example" not in html


def _bulk_members(n, org_id, prefix="bulk"):
    hash_ = User.get_by_id(1).password_hash
    with db.atomic():
        rows = [{"email": f"{prefix}{i:05d}@example.com", "name": f"Bulk {i}",
                 "password_hash": hash_} for i in range(n)]
        for start in range(0, n, 500):
            User.insert_many(rows[start:start + 500]).execute()
        ids = [u.id for u in User.select(User.id).where(User.email.startswith(prefix))]
        Membership.insert_many([{"user": i, "organization": org_id} for i in ids]).execute()


def test_keyset_pagination_walks_every_member_once(admin_client, dbconn):
    org = Membership.get(Membership.user == user("admin@example.com")).organization_id
    _bulk_members(120, org)
    seen, url = [], "/settings/team"
    for _ in range(10):
        html = admin_client.get(url, headers=HTMX).get_data(as_text=True)
        seen += re.findall(r'<tr data-member="(\d+)">', html)
        more = re.search(r'hx-get="([^"]+)" hx-target="#more-members"', html)
        if not more:
            break
        url = more.group(1).replace("&amp;", "&")
    assert len(seen) == len(set(seen)) == 125


def test_member_page_shows_personal_data_form_for_admin(admin_client, dbconn):
    mia = user("member@example.com")
    r = admin_client.get(f"/settings/team/{mia.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert f'action="/settings/team/{mia.id}"' in html and 'data-action="update-profile"' in html
    assert 'data-action="login-as"' in html and 'data-field="phone">+1 202-555-0103' in html
    assert 'id="member-access"' not in html  # owners only
    fragment = admin_client.get(f"/settings/team/{mia.id}/personal", headers=HTMX)
    assert "<html" not in fragment.get_data(as_text=True)


def test_owner_page_is_read_only_for_admins(admin_client, dbconn):
    html = admin_client.get(f"/settings/team/{user('owner@example.com').id}").get_data(
        as_text=True)
    assert "data-readonly" in html and 'data-action="update-profile"' not in html
    assert 'data-action="login-as"' not in html and 'data-action="reset-2fa"' not in html


def test_owner_sees_access_section(owner_client, dbconn):
    html = owner_client.get(f"/settings/team/{user('admin@example.com').id}").get_data(
        as_text=True)
    assert 'id="member-access"' in html


def test_names_are_escaped(admin_client, dbconn):
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    User.update(name=evil).where(User.email == "member@example.com").execute()
    for url in ("/settings/team", f"/settings/team/{user('member@example.com').id}"):
        html = admin_client.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_admin_saves_a_member_name(admin_client, dbconn):
    mia = user("member@example.com")
    r = post(admin_client, f"/settings/team/{mia.id}",
             {"name": "Mia M.", "phone": "+1 202 555 0103"}, token_from="/settings/team")
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia.id}"
    assert user("member@example.com").name == "Mia M."
    row = AuditEvent.get(AuditEvent.event == "name.changed")
    assert (row.actor_id, row.subject_id) == (user("admin@example.com").id, mia.id)


def test_bad_phone_is_inline_422(admin_client, dbconn):
    mia = user("member@example.com")
    for htmx in (False, True):
        r = post(admin_client, f"/settings/team/{mia.id}", {"name": "", "phone": "12ab"},
                 htmx=htmx, token_from="/settings/team")
        assert r.status_code == 422
        assert 'aria-invalid="true"' in r.get_data(as_text=True)
    assert user("member@example.com").phone == "+12025550103"


TEAM_LINK = re.compile(r'<a href="/settings/team"[^>]*>Team</a>')


def test_members_get_no_team_link(member_client):
    for path in ("/settings/profile", "/settings/activity", "/settings/no-such-page"):
        html = member_client.get(path).get_data(as_text=True)
        assert 'href="/settings/profile"' in html and not TEAM_LINK.search(html), path


def test_owners_and_admins_get_the_team_link(owner_client, admin_client):
    for client in (owner_client, admin_client):
        assert TEAM_LINK.search(client.get("/settings/profile").get_data(as_text=True))


def test_the_link_follows_the_role(admin_client, dbconn):
    Membership.update(role="member").where(
        Membership.user == user("admin@example.com").id).execute()
    assert not TEAM_LINK.search(admin_client.get("/settings/profile").get_data(as_text=True))


def test_no_team_link_while_signed_in_as_a_member(admin_client):
    target = user("member@example.com").id
    r = post(admin_client, f"/settings/team/{target}/login-as", {}, token_from="/settings/team")
    assert r.status_code == 303
    html = admin_client.get("/settings/profile").get_data(as_text=True)
    assert "data-impersonation" in html and not TEAM_LINK.search(html)


def test_own_row_leads_to_my_profile(admin_client, dbconn):
    # The member page would only tell its own admin "no permission": My Profile is where
    # one's own data is changed.
    me = user("admin@example.com").id
    html = admin_client.get("/settings/team").get_data(as_text=True)
    assert 'href="/settings/profile" data-self' in member_row(html, "admin@example.com")
    assert f'href="/settings/team/{me}"' not in html
    r = admin_client.get(f"/settings/team/{me}")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    r = admin_client.get(f"/settings/team/{me}/personal", headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/settings/profile"
    r = admin_client.get(f"/settings/team/{me}/security")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    r = admin_client.get(f"/settings/team/{me}/security", headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/settings/profile"


@pytest.mark.parametrize("htmx", [False, True])
def test_admin_saves_a_name_with_a_new_phone_and_is_told(admin_client, dbconn, htmx):
    mia = user("member@example.com")
    r = post(admin_client, f"/settings/team/{mia.id}",
             {"name": "Mia M.", "phone": "+1 202 555 0177"}, htmx=htmx,
             token_from="/settings/team")
    assert user("member@example.com").name == "Mia M."
    if htmx:
        assert "Name saved." in r.headers["HX-Trigger"]
        # The section under the modal comes back as saved: Cancel leaves no unsaved number.
        section = re.search(r'<section id="member-personal".*?</section>',
                            r.get_data(as_text=True), re.S).group(0)
        assert 'hx-swap-oob="true"' in section and "+12025550177" not in section
        assert 'value="+12025550103"' in section
    else:
        assert r.status_code == 303 and "/verify/" in r.headers["Location"]
        assert "Name saved." in admin_client.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("body", [{}, {"name": "Mia"}, {"phone": ""}])
def test_member_form_with_fields_missing_is_refused_not_emptied(admin_client, dbconn, body):
    """A request without the name or phone field is not an empty form: it would blank the
    name and start removing the phone. It is a form error; nothing changes or starts."""
    mia = user("member@example.com")
    r = post(admin_client, f"/settings/team/{mia.id}", body, token_from="/settings/team")
    assert r.status_code == 422
    assert "missing from the form" in r.get_data(as_text=True)
    after = user("member@example.com")
    assert (after.name, after.phone) == (mia.name, mia.phone)
    assert Challenge.select().where(Challenge.subject == mia.id).count() == 0
