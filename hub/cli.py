"""The `sanwang` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.config import Settings, get_settings

if TYPE_CHECKING:  # imported lazily below, so that the CLI starts fast
    from hub.accounts.model import ConsoleAccount
    from hub.tenancy.model import Principal

app = typer.Typer(
    help="sanwang hub (三网合一): one case graph for the three networks.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The supervision audit trail.", no_args_is_help=True)
user_app = typer.Typer(
    help="Console accounts (people who sign in at /console).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")

DEMO_TOKEN_HOURS = 24 * 30


def _settings() -> Settings:
    """The settings of a command; every command that opens the database comes through here,
    so every table is mapped first: a relationship names its target by string (principals ->
    members), which SQLAlchemy resolves only when the target's module was imported. `serve` on
    SQLite got them by migrating; a command alone on PostgreSQL did not."""
    import hub.models  # noqa: F401

    return get_settings()


def _database(settings: Settings):
    from hub.runtime import open_database

    return open_database(settings)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


async def _ensure_migrated(settings: Settings, *, apply: bool) -> None:
    from hub.migrations import current_revision, head_revision, upgrade_async

    if apply:
        await upgrade_async(settings.database_url)
        return
    if await current_revision(settings.database_url) != head_revision():
        raise _fail("the database is not at the latest migration: run `sanwang migrate` first")


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    from hub.migrations import head_revision, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo(f"database at revision {head_revision()}")


MonthOption = Annotated[
    bool,
    typer.Option(
        "--month/--no-month",
        help="also the demo's month of work (patrols, findings, diaries, checks, ledger, joint "
        "actions: docs/demo.md); --no-month seeds the world alone",
    ),
]


async def _seed(settings: Settings, month: bool = True) -> dict[str, int]:
    """The demo world, then its month of work (docs/demo.md): both idempotent."""
    from hub.demo.month import seed_month
    from hub.demo.seed import seed_demo
    from hub.runtime import Runtime

    db = _database(settings)
    try:
        made = await seed_demo(db)
        if not month:
            return made
        typer.echo("seeding the demo month through the services (the first time: a minute or two)")
        runtime = Runtime.start(settings, db)
        made |= await seed_month(db, tz=runtime.tz, prefix=runtime.case_prefix, rules=runtime.rules)
        return made
    finally:
        await db.dispose()


@app.command()
def demo(month: MonthOption = True) -> None:
    """Seed the demo world and its month of work (idempotent)."""
    settings = _settings()

    async def run() -> dict[str, int]:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        return await _seed(settings, month)

    created = asyncio.run(run())
    typer.echo("demo world seeded: " + ", ".join(f"{k} +{v}" for k, v in created.items()))


def _demo_tokens(settings: Settings) -> dict[str, str]:
    """One JWT per role, signed with the hub's key: nothing to store, valid for 30 days."""
    from hub.auth import issue_jwt
    from hub.demo.principals import ROLE_NAMES
    from hub.roles import CITY_WIDE_ROLES, Role

    tokens = {}
    for role in Role:
        tenants = [] if role in CITY_WIDE_ROLES else ["laiji"]
        tokens[role.value] = issue_jwt(
            settings.signing_key(),
            f"demo-{role.lower()}",
            [role.value],
            tenants,
            hours=DEMO_TOKEN_HOURS,
            name=ROLE_NAMES[role],
        )
    return tokens


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port (GraphQL, ingest, health)")] = 8000,
    hj212_port: Annotated[
        int | None, typer.Option("--hj212-port", help="HJ 212 TCP port (0: off)")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="seed the demo world first")] = False,
    month: MonthOption = True,
) -> None:
    """Run the hub."""
    import uvicorn

    from hub.app import create_app
    from hub.runtime import Runtime

    settings = _settings()
    settings.demo = demo
    settings.http_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    # The listener's address is the HJ 212 connector's setting (SANWANG_HJ212_HOST/_PORT).
    listen: dict[str, object] = {"host": host}
    if hj212_port is not None:
        listen["port"] = hj212_port
    runtime = Runtime.start(settings, overrides={"hj212": listen})
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def prepare() -> None:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        if demo:
            created = await _seed(settings, month)
            typer.echo("demo world: " + ", ".join(f"{k} +{v}" for k, v in created.items()))
            await _start_demo_feeds(settings)

    asyncio.run(prepare())
    if demo:
        typer.echo(
            "\nDemo tokens (Authorization: Bearer TOKEN), one per role; town roles are of laiji:"
        )
        for role, token in _demo_tokens(settings).items():
            typer.echo(f"  {role:<10} {token}")
        accounts = asyncio.run(_demo_accounts(settings))
        typer.echo(
            "\nDemo console accounts (sign in at /console/login); passwords are new at every "
            "`serve --demo`; town accounts are of laiji:"
        )
        for login_name, password in accounts.items():
            typer.echo(f"  {login_name:<18} {password}")
    typer.echo(f"\nConsole: http://{host}:{port}/console   GraphiQL: http://{host}:{port}/graphql")
    typer.echo(f"health: http://{host}:{port}/healthz")
    hj212_port = getattr(runtime.connector_settings.get("hj212"), "port", 0)
    if hj212_port:
        typer.echo(f"HJ 212 devices: tcp://{host}:{hj212_port}")
    uvicorn.run(
        create_app(runtime),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )


async def _demo_accounts(settings: Settings) -> dict[str, str]:
    from hub.demo.accounts import ensure_demo_accounts

    db = _database(settings)
    try:
        return await ensure_demo_accounts(db)
    finally:
        await db.dispose()


async def _start_demo_feeds(settings: Settings) -> None:
    """Grid patrols with short limits, so cards appear within minutes (the job registers on
    import and runs in the embedded scheduler, or in `sanwang scheduler`)."""
    from hub.demo import activity

    settings.sweep_interval_seconds = min(settings.sweep_interval_seconds, 10.0)
    db = _database(settings)
    try:
        await activity.install_demo_rules(db)
    finally:
        await db.dispose()
    typer.echo(
        f"demo feeds: a grid patrol finding every {activity.PATROL_SECONDS:.0f} s "
        "(patrol limits: accept within 1.2 min, red at 3 min)"
    )


def _job_settings(command: str) -> Settings:
    """Settings of a job process: it needs a broker it can share with the API processes."""
    settings = _settings()
    if settings.broker_url == "embedded":
        raise _fail(
            f"`sanwang {command}` needs a real broker: set SANWANG_BROKER_URL to redis://... or "
            "amqp://... (with the embedded default, `sanwang serve` runs the worker and the "
            "scheduler itself)"
        )
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pika").setLevel(logging.WARNING)  # RabbitMQ's client narrates at INFO
    return settings


@app.command()
def worker() -> None:
    """Run the job worker (delivers outbox messages); stops cleanly on SIGTERM/SIGINT."""
    from hub.jobs import run_worker
    from hub.runtime import Runtime

    run_worker(Runtime.start(_job_settings("worker")))


@app.command()
def scheduler() -> None:
    """Run the periodic jobs (the outbox relay, sweeps), once per cluster; stops on SIGTERM."""
    from hub.jobs import run_scheduler
    from hub.runtime import Runtime, open_database

    settings = _job_settings("scheduler")
    run_scheduler(Runtime.start(settings, open_database(settings, pool_size=4)))


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="who or what holds the token")],
    role: Annotated[list[str], typer.Option(help="a role (repeatable), e.g. dispatcher")],
    tenant: Annotated[list[str] | None, typer.Option(help="a tenant code (repeatable)")] = None,
    member: Annotated[
        str | None,
        typer.Option(help="a MEMBER token bound to the person with this staff number (工号)"),
    ] = None,
) -> None:
    """Create an API token; it is printed alone on the last line."""
    from hub.auth import create_token

    settings = _settings()

    async def run() -> tuple[Principal, str]:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        db = _database(settings)
        try:
            return await create_token(db, name, role, tenant or [], member)
        finally:
            await db.dispose()

    try:
        row, token = asyncio.run(run())
    except ValueError as exc:
        raise _fail(str(exc)) from None
    bound = f"; member {member} ({row.member_id})" if row.member_id else ""
    typer.echo(
        f"created token for {row.name} ({', '.join(row.roles)}; "
        f"tenants: {', '.join(row.tenant_codes) or 'all'}{bound}) id {row.id}"
    )
    typer.echo(token)


def _read_password() -> str:
    """The new password from stdin (never an argument: arguments show in `ps` and the shell's
    history): asked twice on a terminal, else the first line of what is piped in."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("密码 (password): ")
        if getpass.getpass("再输入一次 (again): ") != first:
            raise _fail("两次输入的密码不一致 (the passwords differ)")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="the login name (登录名)")],
    role: Annotated[list[str], typer.Option(help="a role (repeatable), e.g. dispatcher")],
    tenant: Annotated[list[str] | None, typer.Option(help="a tenant code (repeatable)")] = None,
    member: Annotated[
        str | None,
        typer.Option(help="a MEMBER account bound to the person with this staff number (工号)"),
    ] = None,
    display_name: Annotated[
        str | None,
        typer.Option(
            "--display-name", help="what people read on the timeline (default: the login)"
        ),
    ] = None,
) -> None:
    """Create a console account; the password is read from stdin (only its argon2 hash is kept)."""
    from hub.accounts.service import create_account

    password = _read_password()
    settings = _settings()

    async def run() -> ConsoleAccount:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        db = _database(settings)
        try:
            return await create_account(
                db, name, password, role, tenant or [], member, display_name
            )
        finally:
            await db.dispose()

    try:
        account = asyncio.run(run())
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"created console account {account.login} ({account.name}; {', '.join(account.roles)}; "
        f"tenants: {', '.join(account.tenant_codes) or 'all'})"
    )


@app.command("import")
def import_workbook(
    file: Annotated[Path | None, typer.Argument(help="the workbook (.xlsx)")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check every row, write nothing")
    ] = False,
    template: Annotated[
        Path | None,
        typer.Option(help="write an empty workbook with the headings and an example row"),
    ] = None,
) -> None:
    """Grid cells, staff and enterprises from one workbook (sheets 网格, 人员, 企业)."""
    from hub.grid import importer, workbook

    if template is not None:
        workbook.write_template(template)
        typer.echo(f"template written: {template}")
        return
    if file is None or not file.is_file():
        raise _fail("give an existing workbook (.xlsx), or --template FILE to write one")
    settings = _settings()

    async def run() -> int:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        db = _database(settings)
        try:
            return await importer.run(db, file, dry_run=dry_run)
        finally:
            await db.dispose()

    raise typer.Exit(asyncio.run(run()))


export_app = typer.Typer(help="Workbooks for people (案件台账).", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("cases")
def export_cases(
    file: Annotated[Path, typer.Argument(help="the workbook to write (.xlsx)")],
    from_: Annotated[
        str | None, typer.Option("--from", help="first day registered, local (2026-10-01)")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last day registered, local, included")
    ] = None,
    tenant: Annotated[list[str] | None, typer.Option(help="a town code (repeatable)")] = None,
) -> None:
    """The case ledger as a workbook: Chinese headings, local times, phones masked."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress

    from hub.auth import system_scope
    from hub.errors import DomainError
    from hub.reports.cases_export import ExportFilter, count_cases
    from hub.reports.cases_export import export_cases as write_cases
    from hub.reports.quarters import day_period, parse_day
    from hub.runtime import Runtime

    if file.suffix.lower() != ".xlsx":
        raise _fail("the file must end in .xlsx")
    settings = _settings()
    console = Console(stderr=True)

    async def run() -> int:
        await _ensure_migrated(settings, apply=settings.migrate_on_serve)
        db = _database(settings)
        try:
            runtime = Runtime.start(settings, db)
            start, end = day_period(
                parse_day(from_, "from") if from_ else None,
                parse_day(to, "to") if to else None,
                runtime.tz,
            )
            scope = await system_scope(db)
            flt = ExportFilter(tenant_codes=tuple(tenant or ()), start=start, end=end)
            async with db.session(scope.tenant_ids) as session:
                total = await count_cases(session, scope, flt)
            columns = (*Progress.get_default_columns(), MofNCompleteColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("导出案件", total=total)
                async with db.session(scope.tenant_ids) as session:
                    return await write_cases(
                        session,
                        scope,
                        flt,
                        file,
                        tz=runtime.tz,
                        progress=lambda n: progress.advance(task, n),
                    )
        finally:
            await db.dispose()

    try:
        written = asyncio.run(run())
    except DomainError as exc:
        raise _fail(f"{exc.field or ''}: {exc.message}") from None
    typer.echo(f"{written} cases written to {file}")


@app.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL (equal to graphql/schema.graphql)."""
    from hub.schema import sdl

    sys.stdout.write(sdl())


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[
        str | None, typer.Option(help="one tenant code; default every tenant")
    ] = None,
) -> None:
    """Check the audit hash chains: exit 0 intact, 1 broken (naming the first broken entry)."""
    from hub.audit.service import verify
    from hub.auth import system_scope

    settings = _settings()

    async def run() -> list:
        db = _database(settings)
        try:
            scope = await system_scope(db)
            ids = list(scope.tenant_ids)
            if tenant is not None:
                found = scope.directory.by_code.get(tenant)
                if found is None:
                    raise _fail(f"unknown tenant {tenant!r}")
                ids = [found.id]
            async with db.session(scope.tenant_ids) as session:
                return await verify(session, scope, ids)
        finally:
            await db.dispose()

    results = asyncio.run(run())
    broken = False
    for r in results:
        if r.ok:
            typer.echo(f"{r.tenant_code}: intact, {r.checked} entries")
        else:
            broken = True
            typer.secho(
                f"{r.tenant_code}: BROKEN at entry {r.broken_at_seq}: {r.reason}",
                fg=typer.colors.RED,
            )
    raise typer.Exit(1 if broken else 0)


# --- the city platform connector: `sanwang platform reconcile` (connectors imported lazily) ---
platform_app = typer.Typer(help="The city social-management platform.", no_args_is_help=True)
app.add_typer(platform_app, name="platform")


@platform_app.command("reconcile")
def platform_reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only print what differs")] = False,
) -> None:
    """Compare the hub's platform cases with the platform's view, repair what differs and print
    what was done (exit 0: in step now; 1: something needs a person or the platform is down;
    2: SANWANG_PLATFORM_URL is not set)."""
    from connectors.platform.cli import reconcile_command
    from hub.runtime import Runtime, open_database

    settings = _settings()
    runtime = Runtime.start(settings, open_database(settings, pool_size=2))
    raise typer.Exit(reconcile_command(runtime, dry_run=dry_run))


if __name__ == "__main__":
    app()
