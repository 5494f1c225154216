"""PostgreSQL row-level security, as SQL the migrations apply (pure: builds statements only).

Policies read the visible tenants once per statement through a sub-select and fail closed:
an unset or empty setting yields NULL, and ``tenant_id = ANY(NULL)`` matches no row.
"""

from __future__ import annotations

from hub.db import TENANT_SETTING

VISIBLE = f"(select nullif(current_setting('{TENANT_SETTING}', true), '')::uuid[])::uuid[]"


def enable_tenant_rls(table: str) -> list[str]:
    check = f"tenant_id = any ({VISIBLE})"
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy tenant_isolation on {table} using ({check}) with check ({check})",
    ]


def disable_tenant_rls(table: str) -> list[str]:
    return [
        f"drop policy if exists tenant_isolation on {table}",
        f"alter table {table} no force row level security",
        f"alter table {table} disable row level security",
    ]


def create_app_role(role: str) -> list[str]:
    """The role the app runs as: it owns nothing and does not bypass RLS."""
    return [
        f"""do $$ begin
              create role {role} nologin nosuperuser nobypassrls;
            exception when duplicate_object then null; end $$""",
        f"grant {role} to current_user",
        f"grant usage on schema public to {role}",
        f"grant select, insert, update, delete on all tables in schema public to {role}",
        f"alter default privileges in schema public "
        f"grant select, insert, update, delete on tables to {role}",
    ]


AUDIT_APPEND_ONLY = [
    """create or replace function sanwang_refuse_audit_change() returns trigger
       language plpgsql as $$
       begin
         raise exception 'audit_entries is append-only: % refused', tg_op
           using errcode = 'insufficient_privilege';
       end $$""",
    """create trigger audit_entries_append_only before update or delete on audit_entries
       for each row execute function sanwang_refuse_audit_change()""",
    """create trigger audit_entries_no_truncate before truncate on audit_entries
       for each statement execute function sanwang_refuse_audit_change()""",
]


def postgres_upgrade(tables: list[str], role: str) -> list[str]:
    """Everything the first migration adds on PostgreSQL beyond the tables."""
    statements = [s for table in tables for s in enable_tenant_rls(table)]
    statements += create_app_role(role) + AUDIT_APPEND_ONLY
    # The audit trail is append-only for the app as well as for the trigger.
    statements.append(f"revoke update, delete, truncate on audit_entries from {role}")
    return statements


def postgres_downgrade(tables: list[str]) -> list[str]:
    statements = [
        "drop trigger if exists audit_entries_append_only on audit_entries",
        "drop trigger if exists audit_entries_no_truncate on audit_entries",
        "drop function if exists sanwang_refuse_audit_change()",
    ]
    return statements + [s for table in tables for s in disable_tenant_rls(table)]
