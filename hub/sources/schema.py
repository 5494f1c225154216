"""GraphQL: the sources (enterprises, facilities) cases are about."""

from __future__ import annotations

import strawberry

from hub.sources.model import Source as SourceRow


@strawberry.type(description="An enterprise or facility (污染源).")
class Source:
    id: strawberry.ID
    name: str
    industry: str
    address: str | None

    @classmethod
    def of(cls, row: SourceRow) -> Source:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, industry=row.industry, address=row.address
        )
