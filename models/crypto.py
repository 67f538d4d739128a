"""Encryption at rest of identity numbers, phone numbers and photos (issue 11, point 3).

Columns typed `EncryptedText` / `EncryptedBytes` are stored as Fernet tokens (AES-128-CBC with
HMAC-SHA256, from `cryptography`) under the newest of the keys in `DATA_ENCRYPTION_KEYS`
(comma-separated, newest first; a MultiFernet, so older keys still decrypt while `flask
rotate-key` re-encrypts everything under the newest). A stored value carries a prefix, so a
value written before encryption was turned on is still read (and is encrypted by the next
`rotate-key`). The keys are set once per process by `configure` (bot.create_app); without
them, writing such a column is an error, never a silent plaintext write.
"""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc1:"
PREFIX_BYTES = PREFIX.encode()

_fernet: MultiFernet | None = None


class EncryptionKeyError(RuntimeError):
    """Encryption keys are missing or not Fernet keys."""


def parse_keys(text: str | None) -> list[Fernet]:
    """Fernet keys from a comma-separated setting (newest first); ValueError when one is not
    a Fernet key (32 url-safe base64-encoded bytes)."""
    keys = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            keys.append(Fernet(part.encode()))
        except (ValueError, TypeError) as exc:
            raise ValueError("DATA_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                             "(make one with: python -c \"from cryptography.fernet import "
                             "Fernet; print(Fernet.generate_key().decode())\")") from exc
    return keys


def configure(keys: list[Fernet]) -> None:
    global _fernet
    _fernet = MultiFernet(keys) if keys else None


def _keys() -> MultiFernet:
    if _fernet is None:
        raise EncryptionKeyError("no data encryption keys are configured (DATA_ENCRYPTION_KEYS)")
    return _fernet


def encrypt_text(value: str) -> str:
    return PREFIX + _keys().encrypt(value.encode()).decode()


def decrypt_text(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before encryption: readable, re-encrypted by rotate-key
    try:
        return _keys().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyError("a stored value cannot be decrypted with the configured "
                                 "keys") from exc


def encrypt_bytes(value: bytes) -> bytes:
    return PREFIX_BYTES + _keys().encrypt(value)


def decrypt_bytes(stored: bytes) -> bytes:
    stored = bytes(stored)
    if not stored.startswith(PREFIX_BYTES):
        return stored
    try:
        return _keys().decrypt(stored[len(PREFIX_BYTES):])
    except InvalidToken as exc:
        raise EncryptionKeyError("a stored photo cannot be decrypted with the configured "
                                 "keys") from exc


def rotate_text(stored: str) -> str:
    """The value re-encrypted under the newest key (a plaintext value encrypted)."""
    if stored.startswith(PREFIX):
        return PREFIX + _keys().rotate(stored[len(PREFIX):].encode()).decode()
    return encrypt_text(stored)


def rotate_bytes(stored: bytes) -> bytes:
    stored = bytes(stored)
    if stored.startswith(PREFIX_BYTES):
        return PREFIX_BYTES + _keys().rotate(stored[len(PREFIX_BYTES):])
    return encrypt_bytes(stored)


class EncryptedText(sa.TypeDecorator):
    """A text column stored encrypted."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt_text(str(value))

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt_text(value)


class EncryptedBytes(sa.TypeDecorator):
    """A binary column (a photo) stored encrypted."""

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt_bytes(bytes(value))

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt_bytes(value)
