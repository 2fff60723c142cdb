"""One settings object for the whole process, read from the environment (``PHANANH_*``).

``DATABASE_URL`` is read without prefix because every PostgreSQL tool knows it. When it is unset
we point at the project-local throwaway cluster that ``make db`` starts under ``.data/``.
"""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_CLUSTER_URL = "postgresql://postgres@127.0.0.1:55432/phananh"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHANANH_", extra="ignore")

    database_url: str = Field(
        LOCAL_CLUSTER_URL, validation_alias=AliasChoices("DATABASE_URL", "PHANANH_DATABASE_URL")
    )
    db_pool_size: int = 10

    # GraphQL limits: a public API must refuse work that could take the server down.
    max_page_size: int = 500
    max_batch_points: int = 10_000
    max_polygon_vertices: int = 10_000
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 5_000
    introspection: bool = True

    # Lookup tuning: boundary parts are cut to at most this many vertices (ST_Subdivide), and
    # batch lookups run in chunks of this many points on concurrent connections.
    subdivide_max_vertices: int = 128
    lookup_chunk_points: int = 2_500

    cors_origins: list[str] = []
    max_body_bytes: int = 2_000_000  # a 10,000-point batch is about 400 kB

    # Identity and workflow.
    token_secret: str | None = None  # default: a secret kept in the database
    reopen_window_days: int = 7
    submissions_per_minute_per_client: int = 20
    submissions_per_minute_per_token: int = 60
    trust_forwarded_for: bool = False  # behind a proxy: take the client from X-Forwarded-For

    # Map layers (vector tiles, OGC API – Features, exports).
    tile_feature_cap: int = 10_000  # most features in one vector tile
    tile_cache_bytes: int = 64 * 1024 * 1024  # in-process cache of encoded tiles; 0 disables it
    tile_max_age: int = 60  # Cache-Control max-age (seconds) of tiles and TileJSON
    ogc_default_limit: int = 100
    ogc_max_limit: int = 10_000

    # Analytics (hotspot maps, statistics): the most work one request may ask for.
    max_grid_cells: int = 50_000  # non-empty cells returned by `grid`
    max_hotspot_units: int = 20_000  # cells or areas in a Gi* analysis
    max_cluster_points: int = 200_000  # complaints clustered by DBSCAN in one request
    max_time_steps: int = 120  # weeks or months of an emerging hot spot analysis
    max_series_periods: int = 1_200  # days, weeks or months of a statistics time series

    # Cost budgets: the most one request may cost, in the units of schema/cost.py, by role.
    cost_budget_anonymous: int = Field(1_000_000, ge=1_000, le=10**12)
    cost_budget_citizen: int = Field(1_000_000, ge=1_000, le=10**12)
    cost_budget_official: int = Field(5_000_000, ge=1_000, le=10**12)
    cost_budget_analyst: int = Field(20_000_000, ge=1_000, le=10**12)

    @property
    def sqlalchemy_url(self) -> str:
        """The same URL with the driver SQLAlchemy should use (psycopg2)."""
        url = self.database_url
        for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg2://" + url[len(prefix) :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
