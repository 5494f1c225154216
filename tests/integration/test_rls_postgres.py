"""PostgreSQL's lock, on its own: raw SQL (which the ORM filter never sees) through the app's
sessions, the catalog that makes RLS binding, the append-only audit trail, and pooled
connections that carry no tenant or role from one transaction to the next.

PostgreSQL only: SQLite has no row-level security, its run of this module is empty."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hub.config import Settings
from hub.db import TENANT_SETTING, Database, tenant_tables
from tests.conftest import Backend, Hub, register

A, B = "laiji", "chaohua"
APP_ROLE = Settings(_env_file=None).app_role
INSUFFICIENT_PRIVILEGE = "42501"  # also what RLS's WITH CHECK and the audit trigger raise

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> Iterator[None]:
    if backend.name != "postgres":
        pytest.skip("row-level security exists on PostgreSQL only")
    yield


@pytest.fixture
async def towns(hub: Hub) -> dict[str, uuid.UUID]:
    """Cases (with reports, timeline and audit entries) in both towns; their tenant ids."""
    for town in (A, B):
        for n in range(2):
            done = await register(hub, tenantCode=town, externalId=f"rls-{town}-{n}")
            assert done["case"]["tenant"]["code"] == town
    directory = (await hub.scope()).directory
    return {code: directory.by_code[code].id for code in (A, B)}


async def rows(db: Database, tenant_ids: Any, sql: str, **params: Any) -> list[Any]:
    async with db.session(tenant_ids) as session:
        return list((await session.execute(text(sql), params)).all())


def sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


# --- what a session sees ----------------------------------------------------------------------


async def test_raw_sql_in_a_towns_session_sees_only_that_town(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    for table in ("cases", "reports", "case_events", "audit_entries"):
        seen = await rows(db, [towns[A]], f"select tenant_id, count(*) from {table} group by 1")
        assert dict(seen).keys() == {towns[A]}, table
        assert (
            await rows(db, [towns[A]], f"select id from {table} where tenant_id = :b", b=towns[B])
            == []
        ), table
    for table in tenant_tables():
        seen = await rows(db, [towns[A]], f"select distinct tenant_id from {table}")
        assert {r[0] for r in seen} <= {towns[A]}, table


async def test_sessions_run_as_the_app_role_with_their_scope(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    ((user, setting),) = await rows(
        db,
        [towns[A], towns[B]],
        "select current_user, current_setting(:name, true)",
        name=TENANT_SETTING,
    )
    assert user == APP_ROLE
    assert setting == "{" + f"{towns[A]},{towns[B]}" + "}"


async def test_an_empty_scope_sees_no_row_of_any_tenant_table(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    everything = list(towns.values())
    for table in tenant_tables():
        assert await rows(db, (), f"select count(*) from {table}") == [(0,)], table
    assert (await rows(db, everything, "select count(*) from cases"))[0][0] == 4


async def test_the_app_role_without_any_setting_sees_nothing(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    """Bare metal: the app role in a transaction where nobody called set_config."""
    async with db.engine.connect() as conn:
        await conn.execute(text(f"set local role {APP_ROLE}"))
        for table in tenant_tables():
            assert (await conn.scalar(text(f"select count(*) from {table}"))) == 0, table
        await conn.rollback()


async def test_writing_a_row_of_another_town_fails_the_policy_check(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    insert = (
        "insert into sources (id, tenant_id, name, industry, created_at) "
        "values (:id, :tenant, '越界企业', 'OTHER', now())"
    )
    with pytest.raises(DBAPIError, match="row-level security") as refused:
        await rows_in_tx(db, [towns[A]], insert, id=uuid.uuid4(), tenant=towns[B])
    assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE
    await rows_in_tx(db, [towns[A]], insert, id=uuid.uuid4(), tenant=towns[A])  # A's own: fine

    # Nor can a row of A be moved to B.
    move = "update cases set tenant_id = :b where tenant_id = :a"
    with pytest.raises(DBAPIError, match="row-level security"):
        await rows_in_tx(db, [towns[A]], move, a=towns[A], b=towns[B])

    # B's rows are not there to change or delete: nothing happens.
    assert (
        await count_in_tx(
            db, [towns[A]], "update cases set title = 'x' where tenant_id = :b", b=towns[B]
        )
        == 0
    )
    assert (
        await count_in_tx(
            db, [towns[A]], "delete from case_events where tenant_id = :b", b=towns[B]
        )
        == 0
    )
    titles = await rows(db, [towns[B]], "select distinct title from cases")
    assert titles == [("夜间扬尘",)]


async def rows_in_tx(db: Database, tenant_ids: Any, sql: str, **params: Any) -> None:
    async with db.session(tenant_ids, write=True) as session, session.begin():
        await session.execute(text(sql), params)


async def count_in_tx(db: Database, tenant_ids: Any, sql: str, **params: Any) -> int:
    async with db.session(tenant_ids, write=True) as session, session.begin():
        return (await session.execute(text(sql), params)).rowcount


# --- the catalog ------------------------------------------------------------------------------

CATALOG = """
select c.relname, c.relispartition, c.relrowsecurity, c.relforcerowsecurity,
       (select count(*) from pg_policy p
         where p.polrelid = c.oid and p.polqual is not null and p.polwithcheck is not null),
       pg_get_userbyid(c.relowner)
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'public' and c.relkind in ('r', 'p')
   and exists (select 1 from pg_attribute a
                where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
"""


async def test_every_tenant_table_forces_row_level_security(db: Database) -> None:
    async with db.engine.connect() as conn:
        found = {r[0]: r[1:] for r in (await conn.execute(text(CATALOG))).all()}
    tables = {name for name, (partition, *_) in found.items() if not partition}
    assert tables == set(tenant_tables()), "the database and the models agree"
    # Every partition too (the readings' months): a statement naming one is guarded as well.
    for table, (_, enabled, forced, policies, owner) in found.items():
        assert enabled and forced, table
        assert policies >= 1, f"{table}: no policy with both USING and WITH CHECK"
        assert owner != APP_ROLE, table


async def test_the_app_role_is_neither_superuser_nor_owner_nor_bypassing(db: Database) -> None:
    async with db.engine.connect() as conn:
        role = (
            await conn.execute(
                text("select rolsuper, rolbypassrls, oid from pg_roles where rolname = :r"),
                {"r": APP_ROLE},
            )
        ).one()
        owned = await conn.scalar(
            text("select count(*) from pg_class where relowner = :oid"), {"oid": role.oid}
        )
        # Nor may it inherit those powers from a role it belongs to.
        inherited = await conn.scalar(
            text(
                "select count(*) from pg_roles r where pg_has_role(:name, r.oid, 'member') "
                "and r.rolname <> :name and (r.rolsuper or r.rolbypassrls)"
            ),
            {"name": APP_ROLE},
        )
    assert role.rolsuper is False and role.rolbypassrls is False
    assert owned == 0
    assert inherited == 0


# --- the audit trail is append-only ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "update audit_entries set action = 'case.forged' where tenant_id = :a",
        "delete from audit_entries where tenant_id = :a",
        "truncate audit_entries",
    ],
)
async def test_the_app_cannot_change_or_delete_audit_entries(
    db: Database, towns: dict[str, uuid.UUID], statement: str
) -> None:
    with pytest.raises(DBAPIError) as refused:
        await rows_in_tx(db, [towns[A]], statement, a=towns[A])
    assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE
    assert (await rows(db, [towns[A]], "select count(*) from audit_entries"))[0][0] == 2


async def test_even_the_owner_cannot_change_audit_entries(
    db: Database, towns: dict[str, uuid.UUID]
) -> None:
    """The trigger holds for roles with every privilege (here the migrating superuser)."""
    for statement in ("update audit_entries set action = 'x'", "delete from audit_entries"):
        async with db.engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only") as refused:
                await conn.execute(text(statement))
            assert sqlstate(refused.value) == INSUFFICIENT_PRIVILEGE


# --- pooled connections ------------------------------------------------------------------------

PROBE = "select pg_backend_pid(), current_setting(:name, true), current_user"


async def committed(db: Database, tenant_ids: Any, sql: str, **params: Any) -> list[Any]:
    """Rows of a transaction that commits (a rollback would undo even a session-wide SET)."""
    async with db.session(tenant_ids) as session, session.begin():
        return list((await session.execute(text(sql), params)).all())


async def test_nothing_bleeds_between_transactions_on_a_pooled_connection(
    db_url: str, towns: dict[str, uuid.UUID]
) -> None:
    pool = Database(db_url, pool_size=1)
    try:
        ((pid, setting, user),) = await committed(pool, [towns[A]], PROBE, name=TENANT_SETTING)
        assert (setting, user) == ("{" + str(towns[A]) + "}", APP_ROLE)

        ((pid_b, setting_b, user_b),) = await committed(
            pool, [towns[B]], PROBE, name=TENANT_SETTING
        )
        assert pid_b == pid, "the same pooled connection"
        assert (setting_b, user_b) == ("{" + str(towns[B]) + "}", APP_ROLE)
        seen = await committed(pool, [towns[B]], "select distinct tenant_id from cases")
        assert seen == [(towns[B],)]

        # A transaction of A that fails half way leaves nothing behind either.
        with pytest.raises(DBAPIError):
            async with pool.session([towns[A]]) as session, session.begin():
                await session.execute(text("select 1 / 0"))

        async with pool.engine.connect() as conn:
            outside = (await conn.execute(text(PROBE), {"name": TENANT_SETTING})).one()
        assert outside[0] == pid, "the same pooled connection"
        assert outside[1] in (None, ""), "no tenant scope outside our transactions"
        assert outside[2] != APP_ROLE, "the role was local to the transaction"
    finally:
        await pool.dispose()
