"""Phone numbers as callers give them -> one canonical form (pure, no I/O). Every comparison
of numbers (a repeat caller, several callers about one case) is of this form.

Accepted: mainland mobiles (11 digits, 1[3-9]...) and landlines with their area code
(010/02X + 8 digits, 0XXX + 7 or 8 digits), written with +86 / 0086 / 86, spaces, dashes,
dots, brackets and full-width characters; a landline may carry an extension (0371-62345678-801,
0371-62345678转801, ext. 801). The canonical form is the digits, and the extension after a dash:
``13800000000``, ``037162345678`` or ``037162345678-801``. Anything else is None: never a guess.

Refused on purpose: a local number without its area code (62345678 could be any city's; a
caller's own area code may be given as ``area_code``) and service numbers (12369, 12345,
95598): a reporter's number is one to call the person back on, not a switchboard.
"""

from __future__ import annotations

import re
import unicodedata

from hub.errors import invalid

EXAMPLES = "例如 13812345678、+86 138 1234 5678、0371-62345678、0371-62345678-801"
MOBILE = re.compile(r"1[3-9][0-9]{9}")
LANDLINE = re.compile(r"(?:010|02[0-9])[0-9]{8}|0[3-9][0-9]{2}[0-9]{7,8}")
# Separators people and call systems write between digit groups (after NFKC).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.·/()\[\]]")
_DIGITS = re.compile(r"[0-9]+")
# An extension: a marker (转, 分机, ext, x, #) or, after a whole landline, a last dash group.
_EXTENSION = re.compile(r"^(?P<number>.+?)\s*(?:转|分机|ext\.?|x|#)\s*(?P<ext>[0-9]{1,6})$")
_DASHED = re.compile(r"^(?P<number>.+)[-\u2010-\u2015\u2212](?P<ext>[0-9]{1,6})$")
# A number said or typed in free text (a title, a description, a note): a mobile, whole or in
# groups of 3-4-4, or a landline with its area code; optionally after +86; never a piece of a
# longer run of digits (case numbers, dates, device ids).
_SEP = r"[ \-]?"
_IN_TEXT = re.compile(
    r"(?<![0-9])(?:\+?86" + _SEP + r")?"
    r"(?:1[3-9][0-9]" + _SEP + r"[0-9]{4}" + _SEP + r"[0-9]{4}"
    r"|[(（]?0[1-9][0-9]{1,2}[)）]?" + _SEP + r"[0-9]{7,8})"
    r"(?![0-9])"
)


def normalize_phone(text: str | None, *, area_code: str | None = None) -> str | None:
    """The canonical number, or None when ``text`` is not a recognisable Chinese number.
    ``area_code`` (e.g. "0371") completes a local landline number given without one."""
    if text is None:
        return None
    written = unicodedata.normalize("NFKC", text).strip().casefold()
    whole = _number(written, area_code)
    if whole is not None:
        return whole
    # Only a landline has extensions; a marker says so, a last dash group only when the rest
    # is a whole landline (0371-6234-5678 is a number in groups, not 0371-6234 ext. 5678).
    for pattern in (_EXTENSION, _DASHED):
        found = pattern.match(written)
        if found is None:
            continue
        number = _number(found["number"], area_code)
        if number is not None and not is_mobile(number):
            return f"{number}-{found['ext']}"
    return None


def _number(written: str, area_code: str | None) -> str | None:
    s = _SEPARATORS.sub("", written)
    international = False
    if s.startswith("+"):
        if not s.startswith("+86"):
            return None
        s, international = s[3:], True
    elif s.startswith("0086"):
        s, international = s[4:], True
    elif s.startswith("86") and len(s) == 13 and MOBILE.fullmatch(s[2:]):
        s, international = s[2:], True
    if not _DIGITS.fullmatch(s):
        return None
    if MOBILE.fullmatch(s):
        return s
    if s.startswith("0") and MOBILE.fullmatch(s[1:]):  # a mobile dialled with a trunk 0
        return s[1:]
    if international and not s.startswith("0"):
        s = "0" + s
    if LANDLINE.fullmatch(s):
        return s
    if area_code and not s.startswith("0") and LANDLINE.fullmatch(area_code + s):
        return area_code + s
    return None


def is_mobile(canonical: str) -> bool:
    return MOBILE.fullmatch(canonical) is not None


def check_phone(field: str, text: str | None) -> str | None:
    """The canonical number of a reporter's phone, None when none is given, or VALIDATION
    naming ``field`` (a number nobody can call back is refused, never stored as it came)."""
    if text is None or not text.strip():
        return None
    found = normalize_phone(text)
    if found is None:
        raise invalid(field, not_a_phone(field))
    return found


def not_a_phone(field: str) -> str:
    """What a person reads when ``field`` holds no number we can call back."""
    return f"{field} 不是有效的手机或固定电话号码（{EXAMPLES}）"


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits stay."""
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def redact_phones(text: str) -> str:
    """Free text with every phone number in it masked as the phone field is (138****5678): a
    number the caller spoke ends up in titles, descriptions and notes."""
    return _IN_TEXT.sub(_masked, text)


def _masked(found: re.Match[str]) -> str:
    digits = "".join(_DIGITS.findall(found.group()))
    if len(digits) > 11 and digits.startswith("86"):
        digits = digits[2:]
    return mask_phone(digits)


def strike_phones(text: str, mark: str = "***") -> str:
    """Free text with every phone number in it replaced by ``mark``, not even masked: for what
    anyone may read (the public view), where 138****5678 would still say too much."""
    return _IN_TEXT.sub(mark, text)
