"""Request-side helpers shared by the blueprints: page-or-fragment rendering, htmx, notices."""

import json
from urllib.parse import unquote, urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from . import audit, links
from .delivery import notices
from .models import SEAT, utcnow
from .security import N_


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def page_or_fragment(page: str, partial: str, status: int = 200, **context):
    """One URL, two answers: the partial for htmx, the full page around it otherwise."""
    template = partial if is_htmx() else page
    response = current_app.make_response((render_template(template, **context), status))
    response.vary.add("HX-Request")
    return response


def card_or_fragment(partial: str, status: int = 200, *, page_title: str, labelled_by: str,
                     **context):
    """A step's partial alone for htmx, or as a page of its own: a narrow card with an h1."""
    return page_or_fragment("card.html", partial, status, card_partial=partial,
                            page_title=page_title, labelled_by=labelled_by, **context)


def fragment(partial: str, status: int = 200, **context):
    response = current_app.make_response((render_template(partial, **context), status))
    response.vary.add("HX-Request")
    return response


def trigger(response, **events):
    """Merge events into HX-Trigger (the after-request hook strips HX-* from redirects)."""
    existing = json.loads(response.headers.get("HX-Trigger", "{}"))
    existing.update(events)
    response.headers["HX-Trigger"] = json.dumps(existing)
    return response


def tell(response, message: str, level: str = "success"):
    """A message alongside an answer: a toast for htmx, a flash shown by the next page."""
    if is_htmx():
        return trigger(response, toast={"message": message, "level": level})
    flash(message, level)
    return response


def done(message: str, endpoint: str, **values):
    """After a plain POST: flash and 303 to a page. For htmx: HX-Redirect there."""
    target = url_for(endpoint, **values)
    flash(message, "success")
    if is_htmx():
        response = current_app.make_response(("", 204))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths: a single leading slash, no scheme, host, backslash or control chars."""
    if not target or not isinstance(target, str) or len(target) > 512:
        return default
    # Judge the raw and the once-decoded form: encoded slashes, backslashes and control
    # characters are how "/..." gets turned into another host.
    for form in (target, unquote(target)):
        if any(ord(c) < 0x21 or c in "\\\x7f" for c in form):
            return default
        if not form.startswith("/") or form.startswith("//") or form.startswith("/\\"):
            return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def client_info() -> tuple[str, str]:
    return (request.remote_addr or "", (request.user_agent.string or "")[:255])


def public_url(endpoint: str, **values) -> str:
    """An absolute URL for an email. From PUBLIC_URL when set: the request's Host header is
    the sender's to choose, and a reset link built from it could point at their site."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def notify_phone(user, text: str) -> bool:
    """A short security notice by SMS to the verified phone, kept until sent (see notify)."""
    if not user.phone_verified:
        return False
    _keep_notice("sms", user.phone, "", text)
    return True


def notify(user, subject: str, template: str, to: str | None = None, *,
           change: dict | None = None, **context) -> bool:
    """A security notice by email: a text and an HTML part from the same template data.

    The notice is written to the `delivery` table in the caller's transaction (call it inside
    the transaction of the change it reports) and sent once the request's transactions are
    done; a failed send is retried by `flask deliver`, never raised into the flow.

    A notice about a `change` (its kind and what undoing it needs, see recovery/effects.py)
    carries a single-use "Not you? Secure your account" link as `secure_url`; the text
    templates show it through email/_secure.txt, the HTML part as a button.
    """
    address = to or (user.email if user.email_verified else None)
    if not address:
        return False
    ip, agent = client_info()
    when = utcnow()
    if change is not None:
        token = links.issue(links.SECURE_ACCOUNT, user=user, now=when, data={
            **change, "at": when.isoformat(timespec="seconds"), "ip": ip, "agent": agent})
        context["secure_url"] = public_url("recovery.secure", token=token)
        context["secure_days"] = max(1, links.lifetime(links.SECURE_ACCOUNT) // 86400)
    data = dict(user=user, when=when, ip=ip, agent=agent, **context)
    data.setdefault("secure_url", None)  # "Not you? Secure your account", when given
    body = render_template(template, **data)
    if data["secure_url"] and data["secure_url"] not in body:
        body += "\n" + gettext("Not you? Secure your account: %(url)s",
                               url=data["secure_url"]) + "\n"
    html = render_template(html_template(template), **data)
    _keep_notice("email", address, subject, body, html)
    return True


def html_template(template: str) -> str:
    """The HTML sibling of an email's text template: email/x.txt -> email/x.html."""
    return template.removesuffix(".txt") + ".html"


def _keep_notice(kind: str, to: str, subject: str, body: str, html: str | None = None) -> None:
    row = notices.enqueue(kind, to, subject, body, html, now=utcnow())
    notices.pending_after_request().append(row.id)


def real_user():
    """The person at the keyboard: the admin while impersonating, else the signed-in user."""
    if not current_user.is_authenticated:
        return None
    return getattr(current_user, "impersonator", None) or current_user


def is_impersonating() -> bool:
    return current_user.is_authenticated and getattr(current_user, "impersonator", None) is not None


def own_seat():
    """The signed-in person's membership (their first organisation), with the organisation
    attached, read once a request. The session's query brings it (auth/session.py); a
    session started within this request reads it here."""
    if "own_seat" not in g:
        g.own_seat = SEAT.first(current_user.id)
    return g.own_seat


# What a "Login as" session may not do, by action name (the audit keeps the name).
IMPERSONATION_REFUSALS = {
    "change_profile": N_("While signed in as another person you can't change this profile. "
                         "Return to your account first."),
    "verify_email": N_("While signed in as another person you can't verify this email. "
                       "Return to your account first."),
    "verify_phone": N_("While signed in as another person you can't verify this phone. "
                       "Return to your account first."),
    "sign_out_devices": N_("While signed in as another person you can't sign out this "
                           "person's devices. Return to your account first."),
    "change_password": N_("While signed in as another person you can't change the password. "
                          "Return to your account first."),
    "team_pages": N_("While signed in as another person you can't use the team pages. "
                     "Return to your account first."),
    "setup_totp": N_("While signed in as another person you can't set up an authenticator "
                     "app. Return to your account first."),
    "regenerate_backup_codes": N_("While signed in as another person you can't create new "
                                  "backup codes. Return to your account first."),
    "remove_totp": N_("While signed in as another person you can't remove the authenticator "
                      "app. Return to your account first."),
    "add_passkey": N_("While signed in as another person you can't add a passkey. Return to "
                      "your account first."),
    "rename_passkey": N_("While signed in as another person you can't rename a passkey. "
                         "Return to your account first."),
    "remove_passkey": N_("While signed in as another person you can't remove a passkey. "
                         "Return to your account first."),
    "forget_browsers": N_("While signed in as another person you can't forget this person's "
                          "remembered browsers. Return to your account first."),
}


def refuse_while_impersonating(action: str) -> None:
    """:raise 403: the session is an admin's "Login as"; `action` names what was refused."""
    if is_impersonating():
        audit.record("impersonation.denied", subject=current_user, outcome="denied",
                     action=action)
        abort(403, description=gettext(IMPERSONATION_REFUSALS[action]))
