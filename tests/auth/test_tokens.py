"""API tokens: stored hashed, shown once, expiry, revocation, malformed input."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from cyberfusion.auth import tokens
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import InvalidInput, Unauthenticated
from cyberfusion.partners import repository
from cyberfusion.partners.models import ApiToken


def _issue(world, key="bank", **kw):
    with transaction(world.factory) as s:
        issued = tokens.issue(s, member=repository.member_by_id(s, world.members[key]), **kw)
        return issued.token, issued.record.prefix


def test_token_is_stored_only_as_a_digest(world):
    token, prefix = _issue(world)
    with world.factory() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.digest, row.prefix, row.name)
    assert token.startswith(f"cfc_{prefix}_") and len(token) == 4 + 12 + 1 + 43


def test_valid_token_authenticates_and_records_last_use(world):
    token, prefix = _issue(world)
    with transaction(world.factory) as s:
        assert tokens.authenticate(s, token).id == world.members["bank"]
    with world.factory() as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.prefix == prefix)) is not None


def test_expired_token_is_refused(world):
    token, _ = _issue(world, expires_days=1)
    with world.factory() as s:
        with pytest.raises(Unauthenticated, match="token expired"):
            tokens.authenticate(s, token, now=utcnow() + timedelta(days=1, seconds=1))
        assert tokens.authenticate(s, token, now=utcnow() + timedelta(hours=23)).id == world.members["bank"]


def test_revoked_token_is_refused(world):
    token, prefix = _issue(world)
    with transaction(world.factory) as s:
        tokens.revoke(s, prefix=prefix)
    with world.factory() as s, pytest.raises(Unauthenticated, match="token revoked"):
        tokens.authenticate(s, token)


@pytest.mark.parametrize("bad", ["", "abc", "cfc_short_x", "Bearer cfc_0123456789ab_" + "x" * 43,
                                 "cfc_0123456789ab_" + "x" * 42])
def test_malformed_token_is_refused(world, bad):
    with world.factory() as s, pytest.raises(Unauthenticated, match="malformed token"):
        tokens.authenticate(s, bad)


def test_tampered_secret_is_refused(world):
    token, _ = _issue(world)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    with world.factory() as s, pytest.raises(Unauthenticated, match="unknown token"):
        tokens.authenticate(s, forged)


def test_expiry_must_be_positive(world):
    with world.factory() as s, pytest.raises(InvalidInput) as exc:
        tokens.issue(s, member=repository.member_by_id(s, world.members["bank"]), expires_days=0)
    assert exc.value.field == "expires_days"


def test_request_authentication_trusts_a_checked_token_for_a_few_seconds(world, monkeypatch):
    """Revocation by tokens.revoke in this process applies at once; a revocation written by
    another process applies once CACHE_SECONDS have passed; a deactivated member at once."""
    from sqlalchemy import update

    from cyberfusion.partners.models import Member
    token, prefix = _issue(world)
    with transaction(world.factory) as s:
        assert tokens.authenticate_request(s, token).id == world.members["bank"]
    with transaction(world.factory) as s:  # as another process would: the row only
        s.execute(update(ApiToken).where(ApiToken.prefix == prefix).values(revoked_at=utcnow()))
    with world.factory() as s:
        assert tokens.authenticate_request(s, token).id == world.members["bank"]
        monkeypatch.setattr(tokens, "CACHE_SECONDS", 0.0)
        with pytest.raises(Unauthenticated, match="token revoked"):
            tokens.authenticate_request(s, token)

    monkeypatch.setattr(tokens, "CACHE_SECONDS", 60.0)
    other, other_prefix = _issue(world, key="vendor")
    with transaction(world.factory) as s:
        assert tokens.authenticate_request(s, other).id == world.members["vendor"]
        tokens.revoke(s, prefix=other_prefix)
    with world.factory() as s, pytest.raises(Unauthenticated, match="token revoked"):
        tokens.authenticate_request(s, other)

    third, _ = _issue(world, key="telco")
    with transaction(world.factory) as s:
        assert tokens.authenticate_request(s, third).id == world.members["telco"]
        s.execute(update(Member).where(Member.id == world.members["telco"]).values(active=False))
    with world.factory() as s, pytest.raises(Unauthenticated, match="member inactive"):
        tokens.authenticate_request(s, third)
