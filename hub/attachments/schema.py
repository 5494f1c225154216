"""The GraphQL type of an attachment (a case's photos and documents)."""

from __future__ import annotations

import strawberry

from hub.attachments.model import Attachment as AttachmentRow


@strawberry.type(description="A photo or document (JPEG, PNG, PDF), stored by its sha256.")
class Attachment:
    id: strawberry.ID
    sha256: str = strawberry.field(description="hex SHA-256 of the file (on the audit trail)")
    content_type: str = strawberry.field(description="by content: image/jpeg, image/png, ...")
    size: int = strawberry.field(description="bytes")
    url: str = strawberry.field(
        description="where the file is read (GET, same bearer token): /attachments/{id}"
    )

    @classmethod
    def of(cls, row: AttachmentRow) -> Attachment:
        return cls(
            id=strawberry.ID(str(row.id)),
            sha256=row.sha256,
            content_type=row.content_type,
            size=row.size,
            url=f"/attachments/{row.id}",
        )
