"""One validated settings object for the whole process, read from the environment (``PHANANH_*``).

Every field has bounds, so a typo such as ``PHANANH_MAX_PAGE_SIZE=0`` stops the process at start
with the field's name instead of failing later inside a request. ``DATABASE_URL`` and ``PORT`` are
also read without prefix because database tools and hosting platforms set them. When
``DATABASE_URL`` is unset, the URL points at the project's throwaway cluster on
``PHANANH_PGPORT``: the port ``make`` gives ``scripts/localdb.sh``, so a bare ``phananh`` command
talks to the same cluster as ``make``.
"""

import os
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PGPORT = 55432
TCP_PORT = {"ge": 1, "le": 65_535}
DATABASE_SCHEMES = ("postgresql://", "postgresql+psycopg2://", "postgres://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
IPNetwork = IPv4Network | IPv6Network  # a single address is a network of one


def local_cluster_url(pgport: int = DEFAULT_PGPORT) -> str:
    """The URL of the ``phananh`` database in the project's throwaway cluster on ``pgport``."""
    return f"postgresql://postgres@127.0.0.1:{pgport}/phananh"


def postgresql_url(url: str) -> str:
    if not url.startswith(DATABASE_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(DATABASE_SCHEMES)}")
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHANANH_", extra="ignore",
                                      validate_by_name=True, validate_default=True)

    # Where the process listens and which database it uses.
    port: int = Field(8000, **TCP_PORT, validation_alias=AliasChoices("PHANANH_PORT", "PORT"),
                      description="HTTP port of `phananh serve` when --port is not given.")
    pgport: int = Field(DEFAULT_PGPORT, **TCP_PORT,
                        description="Port of the local throwaway cluster (scripts/localdb.sh); "
                                    "the database URL follows it when DATABASE_URL is unset.")
    database_url: str = Field(
        default_factory=lambda data: local_cluster_url(data["pgport"]),
        validation_alias=AliasChoices("DATABASE_URL", "PHANANH_DATABASE_URL"),
        description="PostgreSQL + PostGIS database (default: `phananh` in the local cluster).")
    db_pool_size: int = Field(20, ge=1, le=1_000, description="Pooled database connections "
                                                               "per pool (each stays open).")

    # Time limits: no request may hold the database, or wait for it, without bound. Statement
    # timeouts are per kind of work (`db.engine.Work`); "read" also covers ordinary writes.
    statement_timeout_read_ms: int = Field(
        5_000, ge=100, le=3_600_000, description="Longest statement of a public read or write.")
    statement_timeout_analytics_ms: int = Field(
        30_000, ge=100, le=3_600_000, description="Longest statement of an analysis.")
    statement_timeout_export_ms: int = Field(
        300_000, ge=100, le=86_400_000, description="Longest statement of an export (the "
                                                    "query, then each batch read from it).")
    statement_timeout_tile_ms: int = Field(
        5_000, ge=100, le=3_600_000, description="Longest statement making a vector tile.")
    connect_timeout_s: int = Field(
        3, ge=2, le=600, description="Longest wait for a new database connection (libpq's "
                                     "connect_timeout, at least 2 s).")
    pool_timeout_s: float = Field(
        2.0, ge=0.1, le=600, description="Longest wait for a pooled connection when all are "
                                         "busy; then the answer is SERVICE_UNAVAILABLE.")
    health_timeout_ms: int = Field(
        2_000, ge=100, le=60_000, description="Longest time /healthz waits for the database.")
    retry_after_s: int = Field(
        2, ge=1, le=3_600, description="Retry-After (seconds) of SERVICE_UNAVAILABLE answers.")

    # Read replicas (db/nodes.py): streaming replicas of DATABASE_URL, which stays the primary.
    replica_urls: list[str] = Field(
        [], description="Streaming replicas of the primary, as a JSON list of URLs; tiles, OGC, "
                        "exports, analytics and anonymous listings read from them.")
    replica_max_lag_seconds: float = Field(
        10.0, ge=0.1, le=86_400,
        description="A replica further behind the primary than this is out of service.")
    replica_wait_seconds: float = Field(
        0.5, ge=0, le=30,
        description="How long a read waits for a replica to replay the caller's last write "
                    "before it reads from the primary instead.")
    replica_check_seconds: float = Field(
        1.0, ge=0, le=3_600,
        description="How often replicas are asked how far they have replayed (0: every read).")
    replica_connect_timeout: int = Field(
        2, ge=1, le=60, description="Seconds to wait for a replica to accept a connection.")

    # GraphQL limits: a public API must refuse work that could take the server down.
    max_page_size: int = Field(500, ge=1, le=100_000, description="Most items in one page.")
    max_batch_points: int = Field(10_000, ge=1, le=1_000_000,
                                  description="Most points in one batch jurisdiction lookup.")
    max_polygon_vertices: int = Field(10_000, ge=4, le=1_000_000,
                                      description="Most vertices in a polygon argument.")
    max_query_depth: int = Field(10, ge=1, le=100, description="Deepest GraphQL selection.")
    max_aliases: int = Field(30, ge=1, le=10_000, description="Most aliases in one query.")
    max_tokens: int = Field(5_000, ge=1, le=1_000_000,
                            description="Most lexical tokens in one query document.")
    introspection: bool = Field(True, description="Whether the schema can be introspected.")

    # Lookup tuning: boundary parts are cut to at most this many vertices (ST_Subdivide), and
    # batch lookups run in chunks of this many points on concurrent connections.
    subdivide_max_vertices: int = Field(128, ge=5, le=100_000,
                                        description="ST_Subdivide's max_vertices (at least 5).")
    lookup_chunk_points: int = Field(2_500, ge=1, le=1_000_000,
                                     description="Points per concurrent lookup chunk.")

    cors_origins: list[str] = Field([], description="Browser origins allowed by CORS and for "
                                                    "WebSocket handshakes.")
    max_body_bytes: int = Field(2_000_000, ge=1, le=1_000_000_000,  # 10,000 points ≈ 400 kB
                                description="Largest request body; larger ones get HTTP 413.")

    # Identity and workflow.
    token_secret: str | None = Field(
        None, min_length=32,
        description="Secret signing tokens (default: a secret kept in the database).")
    reopen_window_days: int = Field(7, ge=0, le=3_650,
                                    description="Days a reporter may reopen a resolved complaint.")
    submissions_per_minute_per_client: int = Field(20, ge=1, le=10_000_000,
                                                   description="Submissions per client address.")
    submissions_per_minute_per_token: int = Field(60, ge=1, le=10_000_000,
                                                  description="Submissions per token.")
    redis_url: str | None = Field(
        None, description="Redis keeping the rate limits (default: PostgreSQL's `rate_limit` "
                          "table), e.g. redis://127.0.0.1:6379/0.")
    redis_key_prefix: str = Field("phananh:rate:", max_length=200,
                                  description="Prefix of the rate limits' Redis keys.")

    # Serving: processes, proxies and connection timeouts (`phananh serve`).
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=512,
                         description="Worker processes of `phananh serve` (default: one per "
                                     "core).")
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        [], description="Addresses (or CIDR networks) of reverse proxies whose Forwarded and "
                        "X-Forwarded-For headers name the client, comma-separated. Empty: "
                        "those headers are ignored, and a client is its TCP peer.")
    header_timeout: float = Field(10.0, ge=0.1, le=600,
                                  description="Seconds a client may take to send a request's "
                                              "headers before its connection is closed.")
    keep_alive_timeout: int = Field(5, ge=1, le=600,
                                    description="Seconds an idle keep-alive connection stays "
                                                "open.")
    access_log: bool = Field(False, description="Log every request (uvicorn's access log). Off "
                                                "by default: the reverse proxy logs requests, "
                                                "and the log cost 4 % of a worker's CPU.")

    # Open311 GeoReport v2 (/open311/v2/): one jurisdiction per server.
    open311_jurisdiction_id: str = Field(
        "phananh.local", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9.\-]+$",
        description="Open311 jurisdiction_id (the city's web domain, by the spec's advice); "
                    "requests naming another get 404.")
    open311_contact: str = Field(
        "Contact the city's People's Committee office.", min_length=1, max_length=500,
        description="The `contact` of the Open311 discovery document.")

    # Footprints (issue 14): the largest a complaint may be when its category sets no limit,
    # and how near a ward's boundary counts as a border candidate.
    footprint_max_length_m: float = Field(
        5_000.0, gt=0, le=1_000_000,
        description="Longest line (or widest MultiPoint) a complaint may have, in metres.")
    footprint_max_area_ha: float = Field(
        100.0, gt=0, le=1_000_000,
        description="Largest polygon a complaint may have, in hectares.")
    border_distance_m: float = Field(
        30.0, ge=0, le=5_000,
        description="Wards within this many metres of a place are its border candidates.")

    # Map layers (vector tiles, OGC API – Features, exports).
    tile_feature_cap: int = Field(10_000, ge=1, le=1_000_000,
                                  description="Most features in one vector tile.")
    tile_cache_bytes: int = Field(64 * 1024 * 1024, ge=0, le=64 * 1024**3,
                                  description="In-process cache of encoded tiles; 0 disables it.")
    tile_max_age: int = Field(60, ge=0, le=31_536_000,
                              description="Cache-Control max-age (seconds) of tiles and TileJSON.")
    ogc_default_limit: int = Field(100, ge=1, le=1_000_000,
                                   description="Items per OGC page when `limit` is not given.")
    ogc_max_limit: int = Field(10_000, ge=1, le=1_000_000,
                               description="Largest `limit` of an OGC items request.")

    # Analytics (hotspot maps, statistics): the most work one request may ask for.
    max_grid_cells: int = Field(50_000, ge=1, le=10_000_000,
                                description="Non-empty cells returned by `grid`.")
    max_hotspot_units: int = Field(20_000, ge=1, le=10_000_000,
                                   description="Cells or areas in a Gi* analysis.")
    max_cluster_points: int = Field(200_000, ge=1, le=100_000_000,
                                    description="Complaints clustered by DBSCAN in one request.")
    max_time_steps: int = Field(120, ge=1, le=10_000,
                                description="Weeks or months of an emerging hot spot analysis.")
    max_series_periods: int = Field(1_200, ge=1, le=100_000,
                                    description="Periods of a statistics time series.")
    stats_parallel_workers: int = Field(
        0, ge=0, le=64, description="PostgreSQL's parallel workers per statement of `stats` "
        "(max_parallel_workers_per_gather). A request already runs its statements side by "
        "side, one connection each; on a few cores, workers only compete with them.")
    stats_snapshot_max_age_seconds: float = Field(
        0, ge=0, le=86_400, description="How old the kept percentiles of the statistics' "
        "durations, and kept DBSCAN clusters, may be when `phananh rollups refresh` has not "
        "caught up with the writes since (analytics/snapshots.py); 0 keeps none. A caller's "
        "own writes are always included.")
    triage_min_samples: int = Field(
        500, ge=10, le=100_000_000, description="Labelled complaints a category model needs; "
        "with fewer (or no model trained), the catalogue's keyword rules suggest.")
    triage_auto_route_confidence: float | None = Field(
        None, ge=0.5, le=1.0, description="Off (unset) by default. When set, a new complaint "
        "whose model suggestion reaches this probability is filed under the suggested category "
        "by the system, with the model version and probability in its history.")
    triage_refresh_seconds: float = Field(
        30.0, ge=0.0, le=86_400.0, description="How often a server process checks which model "
        "version is active (0: on every suggestion).")

    # Photos (media/): limits checked before decoding, and where the files go.
    photo_max_bytes: int = Field(10_000_000, ge=1_000, le=200_000_000,
                                 description="Largest photo file accepted.")
    photo_max_pixels: int = Field(40_000_000, ge=10_000, le=500_000_000,
                                  description="Most pixels (width × height) of a photo.")
    photos_per_complaint: int = Field(10, ge=1, le=100, description="Most photos per complaint.")
    media_store: Literal["local", "s3"] = Field("local", description="Where photos are stored.")
    media_dir: Path = Field(Path(".data/media"),
                            description="Directory of the local, content-addressed photo store.")
    media_s3_bucket: str | None = Field(None, description="Bucket of the S3-compatible store.")
    media_s3_endpoint_url: str | None = Field(
        None, description="Endpoint of the S3-compatible store (default: AWS); credentials "
                          "come from boto3's usual environment variables.")

    # Notifications (notify/): the outbox worker, webhooks and e-mail.
    public_base_url: str = Field("http://127.0.0.1:8000",
                                 description="Base of the links sent in notifications.")
    alerts_per_user: int = Field(20, ge=1, le=10_000,
                                 description="Most alerts, and most contacts, per account.")
    notify_batch_size: int = Field(50, ge=1, le=10_000,
                                   description="Notifications the worker claims at once.")
    notify_max_attempts: int = Field(8, ge=1, le=100,
                                     description="Attempts before a notification is dead.")
    notify_backoff_seconds: float = Field(
        5.0, ge=0.0, le=86_400.0,
        description="First retry delay; each later retry waits twice as long.")
    notify_backoff_max_seconds: float = Field(3_600.0, ge=0.0, le=604_800.0,
                                              description="Longest delay between retries.")
    notify_lease_seconds: float = Field(
        60.0, ge=1.0, le=86_400.0,
        description="How long a claimed notification stays with a worker; a worker killed "
                    "mid-batch leaves its claims to the next one after this.")
    notify_per_recipient_per_hour: int = Field(
        120, ge=1, le=1_000_000,
        description="Most notifications one contact (webhook URL or e-mail address) gets in "
                    "an hour; more wait, in order, until the hour has room.")
    notify_poll_seconds: float = Field(1.0, ge=0.01, le=3_600.0,
                                       description="Worker pause when nothing is due.")
    webhook_timeout_seconds: float = Field(10.0, ge=0.1, le=300.0,
                                           description="Timeout of one webhook request.")
    webhook_allow_private: bool = Field(
        False, description="Let webhooks reach loopback, private and other non-public "
                           "addresses (tests, on-premise receivers); off, such URLs are refused "
                           "when added and at every delivery (notify/webhook_url.py).")
    smtp_host: str = Field("127.0.0.1", description="SMTP server for e-mail notifications.")
    smtp_port: int = Field(25, **TCP_PORT, description="Its port.")
    smtp_starttls: bool = Field(False, description="Whether to STARTTLS before sending.")
    smtp_username: str | None = Field(None, description="SMTP login, when the server wants one.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    mail_from: str = Field("phananh <no-reply@phananh.local>",
                           description="From: of e-mail notifications.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """Comma-separated addresses or networks (``10.0.0.0/8``), each checked on its own."""
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple):
            return value
        networks = []
        for part in parts:
            if isinstance(part, str) and not part.strip():
                continue
            try:
                networks.append(ip_network(part.strip() if isinstance(part, str) else part))
            except ValueError as error:
                raise ValueError(f"{str(part)[:60]!r} is not an IP address or network "
                                 f"({error})") from None
        return networks

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str | None) -> str | None:
        if url and not url.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(REDIS_SCHEMES)}")
        return url

    @field_validator("database_url")
    @classmethod
    def _postgresql(cls, url: str) -> str:
        return postgresql_url(url)

    @field_validator("replica_urls")
    @classmethod
    def _replicas(cls, urls: list[str]) -> list[str]:
        return [postgresql_url(url) for url in urls]

    @model_validator(mode="after")
    def _ogc_limits(self) -> Self:
        if self.ogc_default_limit > self.ogc_max_limit:
            raise ValueError(f"ogc_default_limit ({self.ogc_default_limit}) must not exceed "
                             f"ogc_max_limit ({self.ogc_max_limit})")
        return self

    # Cost budgets: the most one request may cost, in the units of schema/cost.py, by role.
    cost_budget_anonymous: int = Field(1_000_000, ge=1_000, le=10**12)
    cost_budget_citizen: int = Field(1_000_000, ge=1_000, le=10**12)
    cost_budget_official: int = Field(5_000_000, ge=1_000, le=10**12)
    cost_budget_analyst: int = Field(20_000_000, ge=1_000, le=10**12)

    @property
    def sqlalchemy_url(self) -> str:
        """The same URL with the driver SQLAlchemy should use (psycopg2)."""
        return "postgresql+psycopg2://" + self.database_url.split("://", 1)[1]


def setting_errors(error: ValidationError) -> list[str]:
    """One line per bad setting, named as the environment variables an operator may set."""
    lines = []
    for problem in error.errors():
        if problem["type"] == "default_factory_not_called":
            continue  # a consequence of another field's error, listed on its own
        name = str(problem["loc"][0]) if problem["loc"] else "settings"
        lines.append(f"{_VARIABLES.get(name, name)}: {problem['msg']} (got {problem['input']!r})")
    return lines


def _variables() -> dict[str, str]:
    """Field names and aliases → the variables that set the field ("PHANANH_PORT or PORT")."""
    found = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        names = ([str(choice) for choice in alias.choices] if isinstance(alias, AliasChoices)
                 else [f"PHANANH_{field.upper()}"])
        for key in (field, *names):
            found[key] = " or ".join(names)
    return found


_VARIABLES = _variables()


@lru_cache
def get_settings() -> Settings:
    return Settings()
