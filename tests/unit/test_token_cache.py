"""Verified JWTs are kept (hub.auth._VERIFIED) but never served past their exp, nor for another
key, and a token that fails its checks is never kept."""

from __future__ import annotations

import time

import jwt
import pytest

from hub import auth
from hub.auth import AuthError, issue_jwt, principal_from_jwt

KEY = "unit-test-key-of-at-least-thirty-two-bytes"


def test_a_verified_token_is_kept_and_answers_the_same_principal() -> None:
    token = issue_jwt(KEY, "kept", ["DISPATCHER"], [])
    first = principal_from_jwt(token, KEY)
    assert (token, KEY) in auth._VERIFIED
    assert principal_from_jwt(token, KEY) is first


def test_a_kept_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_jwt(KEY, "expiring", ["VIEWER"], [], hours=1)
    principal = principal_from_jwt(token, KEY)
    assert principal.expires_at is not None
    assert principal_from_jwt(token, KEY) is principal  # kept
    checked: list[str] = []

    def verify(token: str, key: str) -> None:  # PyJWT would say "Signature has expired"
        checked.append(token)
        raise AuthError("令牌无效（Signature has expired）")

    monkeypatch.setattr(auth, "_verify_jwt", verify)
    later = principal.expires_at.timestamp()  # PyJWT refuses exp <= now
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthError):
        principal_from_jwt(token, KEY)
    assert checked == [token]


def test_another_key_is_checked_again() -> None:
    token = issue_jwt(KEY, "signed", ["VIEWER"], [])
    principal_from_jwt(token, KEY)
    with pytest.raises(AuthError):
        principal_from_jwt(token, "another-key-of-at-least-thirty-two-bytes")


def test_a_refused_token_is_not_kept() -> None:
    token = jwt.encode({"sub": "x", "roles": [1]}, KEY, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(AuthError):
            principal_from_jwt(token, KEY)
    assert (token, KEY) not in auth._VERIFIED
