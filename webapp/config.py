"""Settings: defaults in code, secrets and deployment choices from the environment."""

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

DEFAULTS = {
    "ENV_NAME": "development",
    "DATABASE_URL": f"sqlite:///{INSTANCE / 'aesthetix.db'}",
    "DATABASE_POOL_SIZE": 8,  # connections per process (playhouse.pool)
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_KEY_PREFIX": "aesthetix",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STRATEGY": "fixed-window",
    "MAIL_BACKEND": "outbox",
    "MAIL_SERVER": "localhost",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USERNAME": "",
    "MAIL_DEFAULT_SENDER": "Aesthetix CRM <no-reply@aesthetix.example>",
    "MAIL_TIMEOUT": 10,
    "SMS_BACKEND": "outbox",
    "SMS_WEBHOOK_URL": "",
    "SMS_TIMEOUT": 10,
    # Security notices (not codes) wait in the `delivery` table until sent: a failed send is
    # retried after each of these delays in turn (seconds: 1 min, 5 min, 30 min, 2 h, 12 h),
    # then marked failed. A sender holds a row this long at most while it sends.
    "DELIVERY_RETRY_SCHEDULE": "60,300,1800,7200,43200",
    "DELIVERY_CLAIM_SECONDS": 120,
    "DELIVERY_BATCH": 50,  # rows one worker claims at a time
    "DELIVERY_POLL_SECONDS": 15,  # `deliver --loop`: pause when nothing is due
    "DELIVERY_KEEP_DAYS": 30,  # sent notices are deleted after this (failed ones are kept)
    # SMS_BACKEND=twilio: the account, and a sender number or a Messaging Service.
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",  # nosec B105 - empty: the token comes from the environment
    "TWILIO_FROM": "",
    "TWILIO_MESSAGING_SERVICE_SID": "",
    # Another origin for Twilio's API (a test double on loopback); empty: api.twilio.com.
    "TWILIO_API_BASE": "",
    # The outbox backends keep codes in plain text in the database: production refuses
    # them unless this is set on purpose (a staging copy with no real users).
    "ALLOW_OUTBOX_IN_PRODUCTION": False,
    "DEV_OUTBOX": False,
    "TRUSTED_PROXIES": 0,
    # Client addresses or networks (comma-separated) that may read /metrics.
    "METRICS_ALLOWED_IPS": "127.0.0.1,::1",
    # "json": one JSON object per log line (request id, user id, event); else plain text.
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    # Password hashing: argon2id, OWASP profile m=19 MiB, t=2, p=1.
    "ARGON2_TIME_COST": 2,
    "ARGON2_MEMORY_COST": 19456,
    "ARGON2_PARALLELISM": 1,
    # Wrong-password limits: each attempt is counted before the password is compared and
    # given back when it was right. Per account applies to browsers without a device cookie
    # for it; a browser with one gets the same number on its own key.
    "LOGIN_FAILURES_PER_ACCOUNT": "10 per 15 minutes",
    "LOGIN_FAILURES_PER_IP": "50 per 15 minutes",
    # Step-up engine.
    "CODE_TTL_SECONDS": 300,
    "CODE_MAX_ATTEMPTS": 5,
    "CODE_RESEND_AFTER_SECONDS": 30,
    "CODE_MAX_RESENDS": 3,
    "CODE_USER_FAILURE_LIMIT": 10,
    "CODE_USER_FAILURE_WINDOW_SECONDS": 900,
    "CODE_USER_LOCK_SECONDS": 900,
    "LOGIN_PENDING_SECONDS": 600,
    "DAILY_CHANGE_LIMIT": 5,
    # "Recently verified" (sudo mode): after a step-up in a session, adding a factor in the
    # same session needs no second one for this long.
    "SUDO_SECONDS": 600,
    # An authenticator secret shown on the setup page stays usable this long.
    "TOTP_SETUP_SECONDS": 900,
    # "Login as" lasts at most this long (and never past the admin's own session).
    "IMPERSONATION_SECONDS": 1800,
    # Codes sent by email or SMS, counted before sending and shared by every worker
    # (toll fraud, message flooding): per destination, per account, per client IP.
    "CODE_SENDS_PER_DESTINATION": "5 per hour",
    "CODE_SENDS_PER_ACCOUNT": "10 per hour",
    "CODE_SENDS_PER_IP": "30 per hour",
    # Countries (ISO 3166 codes, comma-separated) that SMS may go to; empty: all.
    "SMS_ALLOWED_REGIONS": "",
    # Emailed single-use links (webapp/links.py): lifetimes, and sends counted before sending
    # per address (known or not) and per client IP, shared by every worker.
    "LINK_RESET_SECONDS": 30 * 60,
    "LINK_SECURE_SECONDS": 7 * 24 * 3600,
    "LINK_INVITATION_SECONDS": 7 * 24 * 3600,
    "LINK_SENDS_PER_ADDRESS": "3 per hour",
    "LINK_SENDS_PER_IP": "20 per hour",
    # "Forgot password?" answers no sooner than this (ms), known address or not: sending
    # the email must not show in the time.
    "LINK_REQUEST_MIN_MS": 300,
    # The site's address for links in emails, like https://crm.example.com. Set it in
    # production: otherwise links take the request's Host header, which the sender chooses.
    "PUBLIC_URL": "",
    # Team invitations (and their resends) per organisation, on top of the link limits.
    "INVITATIONS_PER_ORGANIZATION": "50 per day",
    # "Don't ask again on this browser": how long a remembered browser skips the sign-in's
    # second step (never a step-up). An organisation's owner may turn remembering off.
    "REMEMBER_BROWSER_DAYS": 30,
    # "Require an authenticator app or passkey": the grace period a member gets (in days)
    # when an organisation has not chosen its own.
    "STRONG_FACTOR_GRACE_DAYS": 7,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Absolute and idle session limits (ASVS / NIST AAL2: 12 h, 30 min).
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "SESSION_IDLE_SECONDS": 1800,
    "WTF_CSRF_TIME_LIMIT": None,
    "TOTP_ENCRYPTION_KEYS": "",
    # Passkeys (WebAuthn). The RP ID is the host name passkeys belong to, the origin the
    # site's scheme://host[:port]. Empty: taken from the request's host in development
    # (`make run`: open http://localhost:5000; browsers refuse passkeys on an IP address);
    # production requires both.
    "WEBAUTHN_RP_ID": "",
    "WEBAUTHN_ORIGIN": "",
    "WEBAUTHN_RP_NAME": "Aesthetix CRM",
    # A WebAuthn challenge is single use and expires after this long.
    "WEBAUTHN_CHALLENGE_SECONDS": 300,
    "PASSKEYS_PER_ACCOUNT": 10,
    # Passkey sign-in ceremonies started per client IP (each stores a challenge).
    "PASSKEY_SIGN_IN_STARTS_PER_IP": "30 per minute",
}
# Empty defaults, not secrets: real values come from the environment. SECRET_KEY has none:
# required in production, generated under instance/ in development.
DEFAULTS["MAIL_PASSWORD"] = ""  # nosec B105
# Wrong current passwords on "Change password", per user (a rate; bandit reads "PASSWORD").
DEFAULTS["PASSWORD_CHANGE_FAILURES"] = "10 per 15 minutes"  # noqa: S105  # nosec B105
DEFAULTS["SECRET_KEY"] = None

_BOOL = {"1", "true", "yes", "on"}


def _coerce(default, raw: str):
    if isinstance(default, bool):
        return raw.strip().lower() in _BOOL
    if isinstance(default, int):
        return int(raw)
    return raw


def from_environment(environ=os.environ) -> dict:
    """Every default can be overridden by an environment variable of the same name."""
    values = {}
    for name, default in DEFAULTS.items():
        if name in environ:
            values[name] = _coerce(default, environ[name]) if default is not None else environ[name]
    if "AESTHETIX_ENV" in environ:
        values["ENV_NAME"] = environ["AESTHETIX_ENV"]
    return values


class ConfigError(RuntimeError):
    """The configuration cannot run safely."""


def private_dir(path: Path) -> Path:
    """instance/ holds the secret key and the SQLite database: readable by the owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is reduced by the umask and skipped when the directory exists already.
    path.chmod(0o700)
    return path


def dev_secret_key(instance: Path) -> str:
    """A development key made once and kept in instance/ so sessions survive restarts."""
    private_dir(instance)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _is_dev_secret(key: str, instance: Path) -> bool:
    path = instance / "secret_key"
    try:
        return path.is_file() and secrets.compare_digest(path.read_text().strip(), key)
    except OSError:
        return False


def finish(config: dict, instance: Path) -> None:
    """Fill in derived settings and refuse unsafe production settings."""
    production = config["ENV_NAME"] == "production"
    if not config.get("SECRET_KEY"):
        if production:
            raise ConfigError("SECRET_KEY must be set in production (AESTHETIX_ENV=production).")
        config["SECRET_KEY"] = dev_secret_key(instance)
    elif production and len(config["SECRET_KEY"]) < 32:
        raise ConfigError("SECRET_KEY is too short for production: use at least 32 characters.")
    elif production and _is_dev_secret(config["SECRET_KEY"], instance):
        raise ConfigError("SECRET_KEY is the development key from instance/secret_key: "
                          "generate a new one for production.")
    outboxes = [name for name in ("MAIL_BACKEND", "SMS_BACKEND") if config.get(name) == "outbox"]
    if production and outboxes and not config.get("ALLOW_OUTBOX_IN_PRODUCTION"):
        raise ConfigError(
            f"{' and '.join(name + '=outbox' for name in outboxes)} in production "
            "(AESTHETIX_ENV=production) would store sign-in and verification codes in plain "
            "text in the database. "
            "Set MAIL_BACKEND=smtp and SMS_BACKEND=webhook or twilio, or set "
            "ALLOW_OUTBOX_IN_PRODUCTION=1 if that is really meant.")
    check_twilio(config)
    check_metrics_allowed(config)
    check_public_url(config, production)
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis://", "rediss://")):
        # A dead Redis must answer fast (then the sensitive endpoints fail closed with a 503),
        # never hang a worker; errors arrive as limits.errors.StorageError.
        config.setdefault("RATELIMIT_STORAGE_OPTIONS", {
            "socket_connect_timeout": 2, "socket_timeout": 2, "wrap_exceptions": True})
    if production:
        config["SESSION_COOKIE_SECURE"] = True
        config["DEV_OUTBOX"] = False


def check_public_url(config: dict, production: bool) -> None:
    """Links in emails (reset, invitation, Secure your account) are built from PUBLIC_URL.

    Without it they take the request's Host header, which whoever asks for a reset link
    chooses (a "password reset poisoning" link to their own site): production refuses that.
    """
    url = str(config.get("PUBLIC_URL") or "").strip()
    if not url:
        if production:
            raise ConfigError(
                "PUBLIC_URL must be set in production (AESTHETIX_ENV=production), e.g. "
                "https://crm.example.com: links in emails are built from it, never from the "
                "request's Host header.")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise ConfigError(f"PUBLIC_URL must be the site's address, like "
                          f"https://crm.example.com (got {url!r}).")
    if production and parts.scheme != "https":
        raise ConfigError("PUBLIC_URL must start with https:// in production: session cookies "
                          "are Secure there, so the site is served over HTTPS.")
    config["PUBLIC_URL"] = url.rstrip("/")


def check_twilio(config: dict) -> None:
    """SMS_BACKEND=twilio needs the account and exactly one sender, in every mode: a missing
    setting found at the first code would be a failed sign-in, not a failed start."""
    if config.get("SMS_BACKEND") != "twilio":
        return
    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
               if not config.get(name)]
    if missing:
        raise ConfigError(f"SMS_BACKEND=twilio needs {' and '.join(missing)}.")
    senders = [name for name in ("TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID")
               if config.get(name)]
    if len(senders) != 1:
        raise ConfigError("SMS_BACKEND=twilio needs exactly one of TWILIO_FROM (a number in "
                          "E.164 form) and TWILIO_MESSAGING_SERVICE_SID.")
    base = str(config.get("TWILIO_API_BASE") or "")
    if base and not base.startswith(("http://", "https://")):
        raise ConfigError("TWILIO_API_BASE must be an http(s) URL.")


def check_metrics_allowed(config: dict) -> None:
    """METRICS_ALLOWED_IPS must parse: a typo must not open /metrics or hide it silently."""
    for part in str(config.get("METRICS_ALLOWED_IPS") or "").split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError as exc:
                raise ConfigError(f"METRICS_ALLOWED_IPS: {part.strip()!r} is not an address "
                                  "or network.") from exc


def _where(url: str) -> str:
    """A URL without its credentials (user, password, query), for printing."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return parts.path.removeprefix("/") or ":memory:"
    return (parts.hostname or "") + (f":{parts.port}" if parts.port else "") + parts.path


def describe(config) -> list[str]:
    """What this process runs with, one line each; never a secret (for `flask describe`)."""
    database = str(config["DATABASE_URL"])
    limiter = str(config["RATELIMIT_STORAGE_URI"])
    mail, sms = config["MAIL_BACKEND"], config["SMS_BACKEND"]
    mail_where = f" ({config['MAIL_SERVER']}:{config['MAIL_PORT']})" if mail == "smtp" else ""
    sms_where = f" ({_where(config['SMS_WEBHOOK_URL'])})" if sms == "webhook" else ""
    if sms == "twilio":
        sms_where = f" ({_where(config.get('TWILIO_API_BASE') or 'https://api.twilio.com')})"
    lines = [
        f"Aesthetix CRM in {config['ENV_NAME']} mode",
        f"  database:    {database.split(':', 1)[0]} ({_where(database)})",
        f"  rate limits: {limiter.split(':', 1)[0]}"
        + (f" ({_where(limiter)})" if not limiter.startswith("memory:") else " (per process)"),
        f"  mail:        {mail}{mail_where}",
        f"  SMS:         {sms}{sms_where}",
    ]
    if "outbox" in (mail, sms):
        lines.append("  note: the outbox keeps codes in the database instead of sending them"
                     + (" (ALLOW_OUTBOX_IN_PRODUCTION is set)"
                        if config["ENV_NAME"] == "production" else ""))
    return lines
