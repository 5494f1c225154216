"""Expected failures of a use case: they reach clients as data (a code), never as a 500."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"


class DomainError(Exception):
    def __init__(self, code: ErrorCode | str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.field = field


def not_found(what: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", field)


def invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, field)
