"""The sealed `next` cursor: round trip, bound to its scope, refused when altered or of an old format."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime

import pytest
from Crypto.Cipher import AES

from cyberfusion.errors import InvalidInput
from cyberfusion.taxii import pagination

SECRET = "s" * 40
POS = pagination.Position(datetime(2026, 11, 27, 4, 5, 6, 789012, tzinfo=UTC), 123456789)


def _refused(cursor: str, scope: str = "c|objects|7|") -> str:
    with pytest.raises(InvalidInput) as exc:
        pagination.decode(cursor, secret=SECRET, scope=scope)
    assert exc.value.field == "next"
    return str(exc.value)


def test_round_trip_and_opaque():
    cursor = pagination.encode(POS, secret=SECRET, scope="c|objects|7|")
    assert pagination.decode(cursor, secret=SECRET, scope="c|objects|7|") == POS
    assert len(cursor) == 60 and "123456789" not in cursor
    assert pagination.encode(POS, secret=SECRET, scope="c|objects|7|") != cursor  # a fresh nonce each time


def test_every_altered_byte_is_refused():
    raw = base64.urlsafe_b64decode(pagination.encode(POS, secret=SECRET, scope="c|objects|7|") + "=")
    for i in range(len(raw)):
        changed = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]
        _refused(base64.urlsafe_b64encode(changed).decode().rstrip("="))
    assert "altered" in _refused(base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode().rstrip("="))


def test_another_scope_or_secret_is_refused():
    cursor = pagination.encode(POS, secret=SECRET, scope="c|objects|7|")
    assert "another collection" in _refused(cursor, scope="c|manifest|7|")
    with pytest.raises(InvalidInput):
        pagination.decode(cursor, secret="t" * 40, scope="c|objects|7|")


def test_an_earlier_servers_aes_gcm_cursor_is_refused_as_old_format():
    key = hashlib.sha256(b"cyberfusion taxii cursor\0" + SECRET.encode()).digest()
    nonce = os.urandom(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(b"c|objects|7|")
    sealed, tag = cipher.encrypt_and_digest((1).to_bytes(8, "big") + (2).to_bytes(8, "big"))
    old = base64.urlsafe_b64encode(nonce + sealed + tag).decode().rstrip("=")
    assert "earlier server version" in _refused(old)


@pytest.mark.parametrize("cursor", ["", "bm90LWEtY3Vyc29y", "!!!", "é", "A" * 60, "A" * 61])
def test_garbage_is_refused(cursor):
    assert "start again without 'next'" in _refused(cursor)
