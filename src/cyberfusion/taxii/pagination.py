"""Keyset cursors for TAXII ``next``: the position (date_added, pk) of the last row served.

A page is the rows after that position in (date_added, pk) order, found through the
``ix_stix_objects_added`` index: the cost of a page does not depend on how deep it is,
and rows added while a client pages never shift what it has not read yet.

The cursor is sealed (AES-GCM, key derived from the secret key) and bound to the
collection and endpoint it was issued for: a raw row id would tell a viewer how many
rows it may not read were stored in between.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from Crypto.Cipher import AES

from cyberfusion.errors import InvalidInput

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAYOUT = struct.Struct(">qq")  # microseconds since the epoch, row pk


@dataclass(frozen=True, slots=True)
class Position:
    date_added: datetime
    pk: int


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"cyberfusion taxii cursor\0" + secret.encode()).digest()


def encode(position: Position, *, secret: str, scope: str) -> str:
    micros = (position.date_added - _EPOCH) // timedelta(microseconds=1)
    nonce = os.urandom(12)
    cipher = AES.new(_key(secret), AES.MODE_GCM, nonce=nonce)
    cipher.update(scope.encode())
    sealed, tag = cipher.encrypt_and_digest(_LAYOUT.pack(micros, position.pk))
    return base64.urlsafe_b64encode(nonce + sealed + tag).decode().rstrip("=")


def decode(cursor: str, *, secret: str, scope: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 12 + _LAYOUT.size + 16:
            raise ValueError("length")
        cipher = AES.new(_key(secret), AES.MODE_GCM, nonce=raw[:12])
        cipher.update(scope.encode())
        micros, pk = _LAYOUT.unpack(cipher.decrypt_and_verify(raw[12:-16], raw[-16:]))
    except (ValueError, TypeError):
        raise InvalidInput("not a 'next' value this server issued for this request", field="next") from None
    return Position(_EPOCH + timedelta(microseconds=micros), pk)
