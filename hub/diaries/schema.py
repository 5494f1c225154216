"""GraphQL: work diaries (writeDiary, workDiary), spot checks (spotCheck) and missingDiaries."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated

import strawberry

from hub.diaries import service
from hub.diaries.day import Entry
from hub.diaries.day import EntryKind as EntryKindEnum
from hub.diaries.model import DiaryRevision as DiaryRevisionRow
from hub.diaries.model import SpotCheck as SpotCheckRow
from hub.diaries.model import SpotCheckResult as SpotCheckResultEnum
from hub.gql import Context, UserError, day_arg, selected
from hub.grid.schema import Member

Info = strawberry.Info[Context, None]

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(SpotCheckResultEnum, name="SpotCheckResult")
SpotCheckResult = SpotCheckResultEnum
strawberry.enum(EntryKindEnum, name="DiaryEntryKind")
DiaryEntryKind = EntryKindEnum


@strawberry.type(description="One text a diary had, oldest first: an edit never loses one.")
class DiaryRevision:
    text: str
    written_at: datetime
    written_by: str

    @classmethod
    def of(cls, row: DiaryRevisionRow) -> DiaryRevision:
        return cls(text=row.text, written_at=row.written_at, written_by=row.written_by)


@strawberry.type(description="A member's own text for one local day (工作日记).")
class Diary:
    date: dt.date
    text: str
    updated_at: datetime
    revisions: list[DiaryRevision] = strawberry.field(
        description="Every text the diary has had, oldest first (the last is `text`)."
    )


@strawberry.type
class DiaryResult:
    diary: Diary


DiaryMutationResult = Annotated[DiaryResult | UserError, strawberry.union("DiaryMutationResult")]


@strawberry.type(description="One thing the record shows the member did that day.")
class DiaryEntry:
    at: datetime
    kind: DiaryEntryKind
    summary: str = strawberry.field(description="What happened, in Chinese.")
    case_number: str | None

    @classmethod
    def of(cls, entry: Entry) -> DiaryEntry:
        return cls(
            at=entry.at, kind=entry.kind, summary=entry.summary, case_number=entry.case_number
        )


@strawberry.type(description="A spot check (抽查) of a member's day; one per member and day.")
class SpotCheck:
    result: SpotCheckResult
    note: str
    checked_by: str
    checked_at: datetime

    @classmethod
    def of(cls, row: SpotCheckRow) -> SpotCheck:
        return cls(
            result=SpotCheckResultEnum(row.result),
            note=row.note,
            checked_by=row.checked_by,
            checked_at=row.checked_at,
        )


@strawberry.type
class SpotCheckResultPayload:
    spot_check: SpotCheck


SpotCheckMutationResult = Annotated[
    SpotCheckResultPayload | UserError, strawberry.union("SpotCheckMutationResult")
]


@strawberry.type(description="A member's working day: the record's entries and their own text.")
class WorkDiary:
    date: dt.date
    member: Member
    text: str | None = strawberry.field(description="The member's own text; null if none.")
    revisions: list[DiaryRevision] = strawberry.field(
        description="Every text the diary has had, oldest first (read only when selected)."
    )
    entries: list[DiaryEntry] = strawberry.field(
        description="Patrols, findings and case steps of the day, in time order."
    )
    spot_check: SpotCheck | None


@strawberry.type(description="A working day on which a member has neither diary nor patrol.")
class MissingDiary:
    date: dt.date
    member: Member


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="The caller's own work diary for today or yesterday (local time); a new "
        "text keeps the old ones as revisions. The token must be bound to a member."
    )
    async def write_diary(self, info: Info, date: dt.date, text: str) -> DiaryMutationResult:
        ctx = info.context
        done = await ctx.write(service.write_diary, day_arg(date, "date"), text, tz=ctx.runtime.tz)
        if isinstance(done, UserError):
            return done
        row = done.diary
        return DiaryResult(
            diary=Diary(
                date=row.day,
                text=row.text,
                updated_at=row.updated_at,
                revisions=[DiaryRevision.of(r) for r in done.revisions],
            )
        )

    @strawberry.mutation(
        description="抽查: judge a member's day (SUPERVISOR, or the town's OPERATOR), once per "
        "member and day; a note is required for FAIL."
    )
    async def spot_check(
        self,
        info: Info,
        member_id: strawberry.ID,
        date: dt.date,
        result: SpotCheckResult,
        note: str,
    ) -> SpotCheckMutationResult:
        ctx = info.context
        done = await ctx.write(
            service.spot_check,
            member_id,
            day_arg(date, "date"),
            result,
            note,
            tz=ctx.runtime.tz,
        )
        if isinstance(done, UserError):
            return done
        return SpotCheckResultPayload(spot_check=SpotCheck.of(done))


@strawberry.type
class Query:
    @strawberry.field(
        description="A member's working day (local date): what the record shows and their own "
        "text. The member, their town's office, supervision and the city roles read it."
    )
    async def work_diary(self, info: Info, member_id: strawberry.ID, date: dt.date) -> WorkDiary:
        ctx = info.context
        found = await ctx.read(
            service.work_diary,
            member_id,
            day_arg(date, "date"),
            tz=ctx.runtime.tz,
            with_revisions="revisions" in selected(info.selected_fields, "workDiary"),
        )
        return WorkDiary(
            date=found.day,
            member=Member.of(found.member),
            text=found.diary.text if found.diary else None,
            revisions=[DiaryRevision.of(r) for r in found.revisions],
            entries=[DiaryEntry.of(e) for e in found.entries],
            spot_check=SpotCheck.of(found.spot_check) if found.spot_check else None,
        )

    @strawberry.field(
        description="Active members with neither a diary nor a patrol on a working day of "
        "their town in [from, to] (at most 92 days; days after today are not counted), by "
        "day, town and name."
    )
    async def missing_diaries(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
        tenant_code: str | None = None,
    ) -> list[MissingDiary]:
        ctx = info.context
        rows = await ctx.read(
            service.missing_diaries,
            tenant_code,
            day_arg(from_, "from"),
            day_arg(to, "to"),
            tz=ctx.runtime.tz,
        )
        return [MissingDiary(date=d, member=Member.of(m)) for d, m in rows]
