"""Query codes (查询码), pure: six characters a hotline operator reads to the caller with the
case number; number + code open the case's public view.

The alphabet has no 0/O, 1/I/L or U/V to confuse on the phone (29 characters: about 595
million codes). A code is derived from the report's id with a key derived from the secret
key (HMAC-SHA256), so a repeated delivery of the same call answers the same code without the
code being stored anywhere; what is stored is a keyed hash of (report id, code), compared in
constant time. Whoever holds the secret key can recompute codes, as they could forge tokens:
rotating SANWANG_SECRET_KEY invalidates the codes given out before.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # no 0 O 1 I L U V
LENGTH = 6
_DERIVE = b"sanwang/query-code/derive/v1"
_STORE = b"sanwang/query-code/store/v1"


def _subkey(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


def code_for(secret: str, report_id: uuid.UUID) -> str:
    """The report's query code: the same for the same report and secret key, unguessable
    without the key."""
    digest = hmac.new(_subkey(secret, _DERIVE), report_id.bytes, hashlib.sha512).digest()
    value = int.from_bytes(digest, "big")  # 512 bits: the modulo bias is nil
    chars = []
    for _ in range(LENGTH):
        value, index = divmod(value, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def stored_hash(secret: str, report_id: uuid.UUID, code: str) -> str:
    """What the database keeps of a code (hex, 64 characters)."""
    message = report_id.bytes + normalize(code).encode()
    return hmac.new(_subkey(secret, _STORE), message, hashlib.sha256).hexdigest()


def matches(secret: str, report_id: uuid.UUID, code: str, kept: str | None) -> bool:
    return kept is not None and hmac.compare_digest(stored_hash(secret, report_id, code), kept)


def normalize(typed: str) -> str:
    """What a person typed as a code: spaces and dashes dropped, upper case."""
    return "".join(c for c in typed.upper() if c not in " -\t")


def well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(c in ALPHABET for c in code)
