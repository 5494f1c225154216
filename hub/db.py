"""Engine, sessions, the declarative Base, and tenant scoping.

Two locks keep a town's rows to that town:
- the ORM adds ``tenant_id IN (visible)`` to every select, update and delete of a tenant-owned
  entity (``do_orm_execute`` + ``with_loader_criteria``) and refuses to flush a row of a tenant
  the session may not see;
- on PostgreSQL, row-level security policies read ``sanwang.tenant_ids``, set with
  ``set_config(..., true)`` at the start of every transaction together with the app's role,
  so nothing survives on a pooled connection.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, MetaData, Table, event, exc, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import JSON, TypeDecorator

from hub.cache import Caches

TENANT_SETTING = "sanwang.tenant_ids"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The instant ``utcnow`` answers in this task, when set (``clock_at``); None: the real clock.
_CLOCK: ContextVar[datetime | None] = ContextVar("sanwang_clock", default=None)


def utcnow() -> datetime:
    fixed = _CLOCK.get()
    return fixed if fixed is not None else datetime.now(UTC)


@contextmanager
def clock_at(at: datetime) -> Iterator[None]:
    """Within the block, ``utcnow()`` in this task (and the column defaults that call it) answers
    ``at``. Only the demo's past month uses it (hub/demo/month.py): the services then stamp
    what they write - cases, steps, clocks, diaries, checks, audit entries - with the time the
    simulated work happened, under their own rules (a diary for today or yesterday, a deadline
    not in the past), instead of the seeding writing rows around them. Nothing served sets it."""
    if at.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _CLOCK.set(at.astimezone(UTC))
    try:
        yield
    finally:
        _CLOCK.reset(token)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must carry an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # asyncpg's: already UTC (the common case)
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDoc(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL, serialised with the non-ASCII text kept readable."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# Statement parameters and result rows hold reporters' phone numbers. A root logger at DEBUG
# must not print them: SQLAlchemy logs rows at DEBUG (parameters are hidden, hide_parameters)
# and aiosqlite logs every call with its arguments. Either is turned on only by name.
for _name in ("sqlalchemy.engine", "aiosqlite"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc(),
        list[str]: JSONDoc(),
        list[dict[str, Any]]: JSONDoc(),
    }
    if TYPE_CHECKING:
        # Every model here maps a Table (none a subquery), so Core insert()/update() accept it.
        __table__: ClassVar[Table]


class TenantOwned:
    """Mixin of every row that belongs to one tenant (a town or the city)."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)


def tenant_tables() -> list[str]:
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


# --- tenant scoping --------------------------------------------------------------------------


class TenantScopeError(RuntimeError):
    """A session was used without a tenant scope, or wrote outside it."""


def visible_tenants(session: Session) -> tuple[uuid.UUID, ...]:
    try:
        return session.info["tenant_ids"]
    except KeyError:
        raise TenantScopeError("session has no tenant scope: refusing to query") from None


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria propagate to these from the statement that loaded the parent
    if not (state.is_select or state.is_update or state.is_delete):
        return
    ids = list(visible_tenants(state.session))
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id.in_(ids), include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _refuse_foreign_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    ids = set(visible_tenants(session))
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, TenantOwned) and obj.tenant_id not in ids:
            raise TenantScopeError(f"{type(obj).__name__} of a tenant outside this session's scope")


@event.listens_for(Session, "after_begin")
def _set_rls_scope(session: Session, _tx: SessionTransaction, conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    ids = "{" + ",".join(str(i) for i in visible_tenants(session)) + "}"
    role = session.info.get("app_role")
    if role:
        conn.execute(
            text("select set_config('role', :role, true), set_config(:name, :ids, true)"),
            {"role": role, "name": TENANT_SETTING, "ids": ids},
        )
    else:
        conn.execute(
            text("select set_config(:name, :ids, true)"), {"name": TENANT_SETTING, "ids": ids}
        )


# --- engines and sessions --------------------------------------------------------------------


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _begin_*)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# How long a request waits for a pooled connection before it is refused with a 503 (hub.web).
# SQLAlchemy's default: shorter refuses more of a burst that the pool would have absorbed (in
# the load test at 10 s, requests that would have been served after 10-30 s were refused).
POOL_TIMEOUT = 30.0


# A pooled connection idle longer than this is pinged before it is handed out (the server may
# have closed it: a restart, an idle timeout, a proxy). One in steady use is not: asyncpg's
# ping is three round trips (BEGIN, ";", ROLLBACK), as many as a whole read's statements.
PING_IDLE_SECONDS = 2.0
_RETURNED = "sanwang_returned_at"


def _mark_returned(_dbapi_conn: Any, record: Any) -> None:
    record.info[_RETURNED] = time.monotonic()


def _ping_if_idle(engine: AsyncEngine) -> Any:
    def check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < PING_IDLE_SECONDS:
            return  # new (just connected), or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # dead: the pool drops it and checks out another
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error

    return check


def _make_engine(
    url: str, *, pool_size: int, immediate: bool = False, pool_timeout: float = POOL_TIMEOUT
) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # A deferred transaction that reads, then writes fails at once with SQLITE_BUSY when
        # another writer committed in between; writers take the lock up front instead.
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,  # _ping_if_idle instead
        # Parameters hold reporters' phone numbers: never in logs or error messages.
        hide_parameters=True,
        json_serializer=lambda v: json.dumps(v, ensure_ascii=False),
    )
    event.listen(engine.sync_engine.pool, "checkin", _mark_returned)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle(engine))
    return engine


class Database:
    """The hub's engines: one per event loop (asyncio engines are bound to the loop)."""

    def __init__(
        self,
        url: str,
        *,
        app_role: str = "sanwang_app",
        pool_size: int = 10,
        pool_timeout: float = POOL_TIMEOUT,
    ) -> None:
        self.url = url
        self.app_role = app_role
        self.is_sqlite = url.startswith("sqlite")
        self.pool_timeout = pool_timeout
        self.engine = _make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.write_engine = (
            _make_engine(url, pool_size=pool_size, immediate=True)
            if self.is_sqlite
            else self.engine
        )
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._side: AsyncEngine | None = None
        self.cache = Caches()  # small per-database caches (the tenant directory, ...)

    def sibling(self, *, pool_size: int) -> Database:
        """Engines of their own on the same database, for another event loop (a thread's):
        asyncio engines cannot be shared across loops."""
        return Database(
            self.url, app_role=self.app_role, pool_size=pool_size, pool_timeout=self.pool_timeout
        )

    def session(self, tenant_ids: Iterable[uuid.UUID], *, write: bool = False) -> AsyncSession:
        """A session that sees exactly these tenants; ``write`` takes SQLite's write lock."""
        maker = self._write if write else self._read
        return maker(info={"tenant_ids": tuple(tenant_ids), "app_role": self.app_role, "db": self})

    @property
    def side(self) -> AsyncEngine:
        """A small autocommit pool of its own, for one short statement taken while a session
        holds a connection of the main pool (the case-number upsert). From the main pool that
        second connection could wait forever: with every connection held by a registration
        waiting for its second one, none is ever returned."""
        if self._side is None:
            # No ping at checkout (a round trip per registration): a connection that died
            # meanwhile fails its one statement, is dropped, and the caller tries once more
            # on a fresh one (hub.cases.intake.next_number).
            self._side = create_async_engine(
                self.url, pool_size=2, max_overflow=4, pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",
            )  # fmt: skip
        return self._side

    async def dispose(self) -> None:
        if self._side is not None:
            await self._side.dispose()
            self._side = None
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def within(tx: SessionTransaction | None, outer: SessionTransaction) -> bool:
    """Whether ``tx`` is ``outer`` or one of its savepoints (undone by a rollback of ``outer``)."""
    while tx is not None:
        if tx is outer:
            return True
        tx = tx.parent
    return False
