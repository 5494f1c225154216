"""What a file is, by its content (never its name or the Content-Type a client claims).

The signatures come from `filetype` (maintained, no native libmagic needed); only the three
kinds the contract accepts are let through."""

from __future__ import annotations

import filetype

# The contract's kinds: photos (JPEG, PNG) and documents (PDF).
ALLOWED = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/pdf": "pdf",
}
# filetype needs at most this many leading bytes to decide.
HEAD_BYTES = 261


def content_type(head: bytes) -> str | None:
    """The MIME type of a file starting with these bytes, if it is one we accept."""
    kind = filetype.guess(head[:HEAD_BYTES])
    if kind is None or kind.mime not in ALLOWED:
        return None
    return str(kind.mime)


def extension(mime: str) -> str:
    return ALLOWED.get(mime, "bin")


# The size limit when the settings do not say (SANWANG_ATTACHMENTS_MAX_BYTES).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
