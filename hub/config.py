"""One Settings object, read from SANWANG_* environment variables (and a .env file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.airquality.alarms import category_named
from hub.attachments.sniff import DEFAULT_MAX_BYTES

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///sanwang.db"
SECRET_FILE = ".sanwang-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANWANG_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLite file (embedded default) or postgresql+asyncpg:// / postgresql+psycopg://",
    )
    broker_url: str = Field("embedded", description="embedded, redis://... or amqp://...")
    secret_key: str = Field("", description="signs JWTs and cursors; made and kept if empty")
    app_role: str = Field(
        "sanwang_app",
        description="PostgreSQL role the app runs as (owns nothing, no BYPASSRLS)",
    )
    auto_migrate: bool | None = Field(
        None, description="apply migrations when serving; default: only on SQLite"
    )
    case_number_prefix: str = Field("XM", description="prefix of human case numbers")
    timezone: str = Field("Asia/Shanghai", description="where days and working hours are counted")
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 4000
    graphql_ide: bool = Field(True, description="serve GraphiQL on GET /graphql")
    allowed_origins: list[str] = Field(
        default_factory=list, description="browser origins allowed to open the WebSocket"
    )
    db_pool_size: int = 10
    db_pool_timeout_seconds: float = Field(
        30.0, gt=0, description="wait for a pooled connection this long, then answer 503"
    )
    log_level: str = "INFO"
    sweep_interval_seconds: float = Field(
        60.0, gt=0, description="how often the card sweep looks for crossed time limits"
    )
    # --- jobs: the broker, the outbox and notifications ---
    broker_namespace: str = Field(
        "sanwang", description="Redis key prefix of the broker (several hubs on one Redis)"
    )
    notify_url: str | None = Field(
        None, description="webhook that receives notifications as JSON; unset: they are logged"
    )
    notify_timeout_seconds: float = Field(
        10.0, description="connect/read timeout of one webhook call"
    )
    outbox_max_attempts: int = Field(
        8, ge=1, description="delivery attempts of an outbox message before it is dead-lettered"
    )
    outbox_backoff_seconds: float = Field(
        2.0, gt=0, description="first retry delay; doubles per attempt, with jitter"
    )
    outbox_backoff_max_seconds: float = Field(600.0, gt=0, description="cap of the retry delay")
    outbox_visibility_seconds: float = Field(
        60.0,
        gt=0,
        description="an ENQUEUED message not delivered within this long (a killed worker, a lost "
        "broker message) is handed to the broker again; keep it above notify_timeout_seconds",
    )
    outbox_retention_days: float = Field(
        7.0, gt=0, description="DELIVERED outbox rows are deleted this long after delivery"
    )
    relay_interval_seconds: float = Field(
        1.0, gt=0, description="how often the relay moves due outbox rows into the broker"
    )
    worker_threads: int = Field(4, ge=1, description="dramatiq worker threads per process")
    # The online-monitoring network (HJ 212): the reading writer and alarms; the listener's
    # settings are connectors.hj212.settings.HJ212Settings.
    reading_batch_rows: int = Field(
        5000, ge=1, description="readings written per transaction at most (group commit)"
    )
    reading_batch_delay_ms: float = Field(
        20.0, ge=0, description="how long a batch waits for more readings before committing"
    )
    readings_retention_months: int = Field(
        36,
        ge=0,
        description="PostgreSQL: months of readings kept; a month partition that ended this "
        "many months ago is detached and dropped (or archived); 0 keeps everything",
    )
    readings_archive: bool = Field(
        False,
        description="PostgreSQL: expired month partitions are detached and kept as "
        "readings_archive_YYYY_MM tables (for pg_dump) instead of dropped",
    )
    readings_partitions_ahead: int = Field(
        3, ge=1, le=24, description="PostgreSQL: month partitions of readings created ahead"
    )
    alarm_consecutive: int = Field(
        3, ge=1, description="consecutive real-time values over the limit that open an alarm"
    )
    offline_minutes: float = Field(
        60.0, gt=0, description="a device silent this long opens an offline alarm"
    )
    alarm_max_age_hours: float = Field(
        3.0,
        gt=0,
        description="values older than this on arrival (a backfill, a device catching up after "
        "an outage) are stored but open no alarm case: their episode is over",
    )
    air_alarm_category: str = Field(
        "中度污染",
        description="the AQI category (HJ 633 Table 2, name or key) from which an air station's "
        "hourly or 24-hour mean of a pollutant opens an alarm",
    )

    @field_validator("air_alarm_category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        return category_named(value).name

    # --- privacy of intake and subscriptions ---
    register_rate_per_minute: int = Field(
        120,
        ge=0,
        description="registerCase calls one principal may make per minute, counted per process "
        "(0: no limit)",
    )
    # --- the public view (/lookup, /public/cases, Open311 reads) ---
    lookup_wrong_codes: int = Field(
        10,
        ge=1,
        description="wrong case number/query code pairs one client address may send in the window "
        "before every lookup from it is refused with 429 (counted per process)",
    )
    lookup_window_seconds: int = Field(
        600, ge=1, description="the moving window of lookup_wrong_codes, in seconds"
    )
    subscription_recheck_seconds: float = Field(
        5.0, gt=0, description="how often a subscription socket re-checks its API token"
    )

    # --- one problem, one case (hub.cases.duplicates) ---
    duplicate_distance_meters: float = Field(
        300.0,
        gt=0,
        le=10_000,
        description="an open case of the same category this close (and recent) is shown to the "
        "dispatcher as a possible duplicate of a new case",
    )
    duplicate_window_hours: float = Field(
        72.0, gt=0, description="how recent an open case must be to attach or be a candidate"
    )
    review_outside_office: bool = Field(
        False,
        description="督查 by another office: the reviewer of a result may not be of the town "
        "office handling the case (the submitter may never review their own result)",
    )
    urgent_after_callers: int = Field(
        3, ge=2, description="this many different callers about one case make it URGENT"
    )
    # Set by `sanwang serve` from its options; connectors read them in their lifespan.
    demo: bool = Field(False, description="run the demo feeds and simulators (serve --demo)")
    http_url: str = Field(
        "http://127.0.0.1:8000", description="where this hub's HTTP API answers (for simulators)"
    )

    # --- GraphQL over HTTP: what one request may weigh ---
    graphql_max_fragment_spreads: int = Field(
        100,
        ge=1,
        description="fragment spreads in one document, counted as expanded (a spread of a "
        "fragment counts that fragment's spreads again); inline fragments count as written",
    )
    graphql_max_list_items: int = Field(
        1000, ge=1, description="items of one list argument, in the document or the variables"
    )
    graphql_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="largest POST /graphql body; larger ones answer 413"
    )
    response_cache_seconds: float = Field(
        0.0,
        ge=0,
        description="keep the answers of the queue's and the board's queries (hub/responses.py) "
        "while the change feed stands still, at most this long; 0: no response cache",
    )

    # --- attachments (POST /attachments): stored once per sha256 ---
    attachments_max_bytes: int = Field(
        DEFAULT_MAX_BYTES, ge=1024, description="largest attachment; larger uploads answer 413"
    )
    attachments_dir: Path = Field(
        Path("attachments"),
        description="folder of the attachment blobs (relative: to the working directory, beside "
        "the default SQLite file); unused when an S3 store is configured",
    )
    attachments_s3_endpoint: str | None = Field(
        None, description="an S3-compatible store (http://minio:9000): attachments go there"
    )
    attachments_s3_bucket: str | None = Field(None, description="the bucket (must exist)")
    attachments_s3_access_key: str | None = None
    attachments_s3_secret_key: str | None = None
    attachments_s3_region: str = "us-east-1"
    attachments_s3_prefix: str = Field("", description="key prefix of the blobs in the bucket")
    # --- the web console (/console): people's sign-in ---
    console_session_minutes: float = Field(
        480.0,
        gt=0,
        description="a console session ends after this long without a request (8 hours: a "
        "working day); the user signs in again",
    )
    console_session_max_hours: float = Field(
        12.0, gt=0, description="a console session ends this long after sign-in, used or not"
    )
    console_cookie_secure: bool = Field(
        False,
        description="send the console's session cookie over HTTPS only (set it when the hub is "
        "served behind TLS)",
    )
    console_lockout_failures: int = Field(
        5, ge=1, description="failed sign-ins of one account that lock it for the window below"
    )
    console_lockout_address_failures: int = Field(
        20,
        ge=1,
        description="failed sign-ins from one address (any account) that lock that address "
        "(higher than per account: an office signs in from behind one address)",
    )
    console_lockout_minutes: float = Field(
        15.0, gt=0, description="the moving window of failed sign-ins, and so the lock-out"
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_serve(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def signing_key(self) -> str:
        """The secret key; for the embedded default one is made once and kept beside the db."""
        if self.secret_key:
            return self.secret_key
        path = Path(SECRET_FILE)
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
