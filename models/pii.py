"""Personal data at rest: AES-256-GCM encryption with a key id for rotation, a keyed
hash (HMAC-SHA256) for look-ups that never decrypt in SQL, and the masked forms shown
to people.

Stored ciphertext is ``kid:base64(nonce || ciphertext+tag)``; the key id and the
column name are bound in as associated data, so a value copied into another column
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PHONE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
ID_NUMBER_PATTERN = re.compile(r"^\d{17}[\dX]$")
SEALED_PAYLOAD = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
MIN_SEALED_BASE64 = 40  # base64 of a 12-byte nonce and a 16-byte tag (28 bytes) at least


def normalize_phone(raw: str) -> str:
    """Strip spaces, dashes and a +86 prefix; what remains must be a mainland mobile."""
    phone = re.sub(r"[\s-]", "", raw)
    phone = phone.removeprefix("+86").removeprefix("0086")
    return phone


def normalize_id_number(raw: str) -> str:
    return raw.strip().upper()


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def mask_id_number(id_number: str) -> str:
    return f"{id_number[:3]}{'*' * (len(id_number) - 7)}{id_number[-4:]}"


@dataclass(frozen=True)
class SealedValue:
    """What a model stores for one personal value."""

    encrypted: str
    lookup_hash: str
    masked: str


class PiiCipher:
    def __init__(self, keyring: dict[str, bytes], current_key_id: str, lookup_key: bytes):
        self._keys = {kid: AESGCM(key) for kid, key in keyring.items()}
        self._current = current_key_id
        self._lookup_key = lookup_key

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(
            nonce, plaintext.encode(), f"{self._current}:{purpose}".encode()
        )
        return f"{self._current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, purpose: str) -> str:
        kid, _, payload = stored.partition(":")
        raw = base64.b64decode(payload)
        plain = self._keys[kid].decrypt(raw[:12], raw[12:], f"{kid}:{purpose}".encode())
        return plain.decode()

    @property
    def current_key_id(self) -> str:
        """The key new values are sealed with; the others only decrypt (rotation)."""
        return self._current

    def key_id(self, stored: str) -> str | None:
        """The key id a stored value names, or None if it is not a sealed value of ours
        (``kid:base64`` with a known kid and room for a nonce and a tag)."""
        kid, sep, payload = stored.partition(":")
        if not sep or kid not in self._keys or not SEALED_PAYLOAD.match(payload):
            return None
        return kid if len(payload) >= MIN_SEALED_BASE64 else None

    def rewrap(self, stored: str, purposes: tuple[str, ...]) -> str | None:
        """``stored`` sealed again with the current key under the purpose it was sealed
        for (tried in turn: a wrong purpose fails authentication); None when it is
        already under the current key or is not a value of ours."""
        kid = self.key_id(stored)
        if kid is None or kid == self._current:
            return None
        for purpose in purposes:
            try:
                plain = self.decrypt(stored, purpose)
            except InvalidTag:
                continue
            return self.encrypt(plain, purpose)
        raise ValueError(f"a value under key {kid} opens with none of the purposes {purposes}")

    def lookup_hash(self, value: str, purpose: str) -> str:
        message = f"{purpose}:{value}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()

    def seal_phone(self, phone: str) -> SealedValue:
        return SealedValue(
            self.encrypt(phone, "phone"), self.lookup_hash(phone, "phone"), mask_phone(phone)
        )

    def seal_id_number(self, id_number: str) -> SealedValue:
        return SealedValue(
            self.encrypt(id_number, "id_number"),
            self.lookup_hash(id_number, "id_number"),
            mask_id_number(id_number),
        )

    def seal_email(self, email: str) -> SealedValue:
        return SealedValue(
            self.encrypt(email, "email"),
            self.lookup_hash(email.lower(), "email"),
            mask_email(email),
        )

    def phone_hash(self, phone: str) -> str:
        return self.lookup_hash(phone, "phone")

    def id_number_hash(self, id_number: str) -> str:
        return self.lookup_hash(id_number, "id_number")


# The cipher a data migration seals existing values with (``migrate_database`` sets it
# from the settings); None where nothing is to be sealed, e.g. a fresh database.
MIGRATION_CIPHER: ContextVar[PiiCipher | None] = ContextVar("migration_cipher", default=None)
