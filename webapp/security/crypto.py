"""Keys for two-factor data: Fernet encryption of authenticator secrets, derived HMAC keys.

TOTP_ENCRYPTION_KEYS is a comma-separated list of Fernet keys: the first encrypts, every one
decrypts, so a new key is put first and old ones stay listed until secrets are re-encrypted
(`flask --app wsgi twofactor rotate-keys`). In development, when it is unset, a key is derived
from SECRET_KEY with HKDF; production refuses to start without it.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..config import ConfigError

TOTP_INFO = b"aesthetix/totp-secret-encryption/v1"
BACKUP_INFO = b"aesthetix/backup-code-hmac/v1"


def derive_key(secret: str | bytes, info: bytes, length: int = 32) -> bytes:
    """A subkey of SECRET_KEY for one purpose; different `info`, unrelated keys."""
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(material)


def parse_keys(raw: str) -> list[Fernet]:
    """The configured Fernet keys in order; ConfigError naming the position of a bad one."""
    keys = []
    for position, item in enumerate((raw or "").split(","), start=1):
        item = item.strip()
        if not item:
            continue
        try:
            keys.append(Fernet(item.encode()))
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"TOTP_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from exc
    return keys


def cipher(keys_setting: str, secret_key: str, *, production: bool) -> MultiFernet:
    """The MultiFernet for authenticator secrets from the configuration."""
    keys = parse_keys(keys_setting)
    if not keys:
        if production:
            raise ConfigError("TOTP_ENCRYPTION_KEYS must be set in production "
                              "(comma-separated Fernet keys, the first one encrypts).")
        keys = [Fernet(base64.urlsafe_b64encode(derive_key(secret_key, TOTP_INFO)))]
    return MultiFernet(keys)


def encrypt(box: MultiFernet, text: str) -> str:
    return box.encrypt(text.encode()).decode()


def decrypt(box: MultiFernet, token: str) -> str | None:
    """The plain text, or None when no configured key opens the token."""
    try:
        return box.decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, TypeError):
        return None


def rotate(box: MultiFernet, token: str) -> str:
    """The same secret re-encrypted under the first (newest) key."""
    return box.rotate(token.encode()).decode()
