"""Phone numbers as callers give them -> one canonical form. The rules live with the case graph
(hub.cases.phones: every channel compares numbers the same way); the hotline uses them here."""

from hub.cases.phones import LANDLINE, MOBILE, is_mobile, normalize_phone, not_a_phone

__all__ = ["LANDLINE", "MOBILE", "is_mobile", "normalize_phone", "not_a_phone"]
