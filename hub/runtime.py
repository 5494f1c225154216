"""The runtime: what every part of a process shares, built once at its start.

A process entry point (``sanwang serve``, ``worker``, ``scheduler``, a CLI command, a test)
reads its settings once and calls :meth:`Runtime.start`; the app, the job system, the
connectors and the GraphQL context are handed the result. Services never read it whole: they
take what they need (a time zone, the case-number prefix, the duplicate rules) as parameters,
so two mutations of one process cannot follow different settings.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hub.attachments.storage import BlobStore, open_store
from hub.cases.duplicates import Rules
from hub.config import Settings
from hub.db import Database
from hub.events import Broadcaster, SharedBroadcaster, broadcaster

S = TypeVar("S")


def open_database(settings: Settings, pool_size: int | None = None) -> Database:
    """The one place a Database is made from settings (a second engine of an open one, for
    another event loop, is ``Database.sibling``)."""
    return Database(
        settings.database_url,
        app_role=settings.app_role,
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )


def case_events(db: Database) -> Broadcaster:
    """The broadcaster of case events for a process on this database."""
    return broadcaster if db.is_sqlite else SharedBroadcaster(db)


def attachment_store(settings: Settings) -> BlobStore:
    """The attachment store the settings name (S3-compatible when an endpoint and a bucket are
    given, else the folder)."""
    return open_store(
        folder=settings.attachments_dir,
        s3_endpoint=settings.attachments_s3_endpoint,
        s3_bucket=settings.attachments_s3_bucket,
        s3_access_key=settings.attachments_s3_access_key,
        s3_secret_key=settings.attachments_s3_secret_key,
        s3_region=settings.attachments_s3_region,
        s3_prefix=settings.attachments_s3_prefix,
    )


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    tz: ZoneInfo  # where days and working hours are counted
    case_prefix: str  # of human case numbers
    rules: Rules  # one problem, one case: duplicate window, distance, urgent callers
    # Each connector's own typed settings, by connector name, loaded once by Runtime.start
    # (hub.plugins.Connector.settings). A mapping, not frozen: serve --demo points a connector
    # at its in-process simulator once the simulator listens.
    connector_settings: MutableMapping[str, Any] = field(default_factory=dict)
    # Where attachment blobs are kept: the settings' folder or S3-compatible store.
    attachments: BlobStore | None = None
    # Where this process's subscribers get case events (hub.events): on SQLite the process's
    # in-process broadcaster; on PostgreSQL one fed by LISTEN, so that a change committed by
    # any process (another `serve`, the worker, the scheduler) reaches them.
    events: Broadcaster = broadcaster

    @classmethod
    def start(
        cls,
        settings: Settings,
        db: Database | None = None,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Runtime:
        """Build the runtime; a connector's settings that do not validate fail here, naming
        the environment variable. ``overrides``: connector settings given on the command line
        (``{"hj212": {"port": 0}}``), over the environment's."""
        from hub.plugins import load_connector_settings

        db = db if db is not None else open_database(settings)
        return cls(
            settings=settings,
            db=db,
            tz=ZoneInfo(settings.timezone),
            case_prefix=settings.case_number_prefix,
            rules=Rules.of(settings),
            connector_settings=load_connector_settings(overrides),
            attachments=attachment_store(settings),
            events=case_events(db),
        )

    @property
    def blobs(self) -> BlobStore:
        """The attachment store (a runtime built by hand gets the settings' one)."""
        return self.attachments if self.attachments is not None else attachment_store(self.settings)

    def connector(self, name: str, kind: type[S]) -> S:
        """One connector's settings, checked to be of the type it declared."""
        found = self.connector_settings.get(name)
        if not isinstance(found, kind):
            raise RuntimeError(f"connector {name!r} has no {kind.__name__} in this runtime")
        return found
