"""Update Profile with a new name and a new phone: the name is saved at once and says so, and
a cancelled verification leaves the saved values in the form."""

import re

import pytest
from conftest import csrf, post, user

NEW_PHONE = "+12025550177"
SAVED_PHONE = "+12025550103"


def name_and_phone(client, htmx):
    return post(client, "/settings/profile",
                {"name": "Mia Renamed", "email": "member@example.com", "phone": NEW_PHONE},
                htmx=htmx)


def test_plain_post_says_the_name_was_saved_and_cancel_shows_the_saved_phone(member_client,
                                                                              dbconn):
    r = name_and_phone(member_client, htmx=False)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    step = member_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Name saved." in step
    token = csrf(member_client, r.headers["Location"])
    r = member_client.post(r.headers["Location"] + "/cancel", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    page = member_client.get("/settings/profile").get_data(as_text=True)
    assert f'value="{SAVED_PHONE}"' in page and NEW_PHONE not in page
    assert 'value="Mia Renamed"' in page
    assert (user("member@example.com").name, user("member@example.com").phone) == (
        "Mia Renamed", SAVED_PHONE)


@pytest.mark.parametrize("name", ["Mia Renamed", "Mia Member"])
def test_htmx_modal_brings_the_saved_section_and_says_when_the_name_was_saved(member_client,
                                                                              dbconn, name):
    r = post(member_client, "/settings/profile",
             {"name": name, "email": "member@example.com", "phone": NEW_PHONE}, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    html = r.get_data(as_text=True)
    assert "<dialog" in html
    section = re.search(r'<section id="personal-data".*?</section>', html, re.S).group(0)
    assert 'hx-swap-oob="true"' in section
    assert f'value="{SAVED_PHONE}"' in section and NEW_PHONE not in section
    toast = "Name saved." in r.headers.get("HX-Trigger", "")
    assert toast == (name == "Mia Renamed")
