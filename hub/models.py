"""Every feature's tables, imported once so that the metadata is complete."""

from hub.accounts.model import ConsoleAccount
from hub.attachments.model import Attachment, AttachmentLink
from hub.audit.model import AuditEntry, AuditHead
from hub.briefings.model import Briefing
from hub.cameras.model import Camera, CameraEpisode, CameraEvent, QuarantinedVideoEvent
from hub.cases.model import (
    Case,
    CaseCandidate,
    CaseCounter,
    CaseLink,
    Event,
    ExternalRef,
    Report,
)
from hub.diaries.model import Diary, DiaryRevision, SpotCheck
from hub.evaluation.model import EvaluationMonth, EvaluationRow, EvaluationRule
from hub.grid.model import GridCell, Member
from hub.joint.model import JointAction, JointActionCase
from hub.ledgers.model import LedgerCounter, LedgerItem, LedgerProgress
from hub.monitoring.model import MonitoringPoint
from hub.outbox.model import OutboxMessage
from hub.patrols.model import Finding, Patrol, TrackPoint
from hub.plugins import import_connector_models
from hub.sources.model import Source
from hub.supervision.model import CaseCard, CaseHop, ExtensionRequest, TimeLimitRule, WorkDay
from hub.sync.model import CaseFeed
from hub.tenancy.model import Principal, Tenant

__all__ = [
    "Attachment",
    "AttachmentLink",
    "AuditEntry",
    "AuditHead",
    "Briefing",
    "Camera",
    "CameraEpisode",
    "CameraEvent",
    "Case",
    "CaseCandidate",
    "CaseCard",
    "CaseCounter",
    "CaseFeed",
    "CaseHop",
    "CaseLink",
    "ConsoleAccount",
    "Diary",
    "DiaryRevision",
    "EvaluationMonth",
    "EvaluationRow",
    "EvaluationRule",
    "Event",
    "ExtensionRequest",
    "ExternalRef",
    "Finding",
    "GridCell",
    "JointAction",
    "JointActionCase",
    "LedgerCounter",
    "LedgerItem",
    "LedgerProgress",
    "Member",
    "MonitoringPoint",
    "OutboxMessage",
    "Patrol",
    "Principal",
    "QuarantinedVideoEvent",
    "Report",
    "Source",
    "SpotCheck",
    "Tenant",
    "TimeLimitRule",
    "TrackPoint",
    "WorkDay",
]  # fmt: skip

import_connector_models()  # connectors' own tables (e.g. the platform pull's cursor)
