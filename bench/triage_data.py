"""A million complaints for the triage benchmark, fast.

The demo path (``demo.seed``) routes every complaint, computes its due time, writes its event
history and keeps the daily rollups of migration 0013 exact: right for a demo, slow for a
million rows. The triage benchmark needs none of that: the category model learns from the
description, the category and the first action's time; duplicate candidates need the place,
the time, the status and the marked duplicates. So the complaints (the demo generator's own:
its varied Vietnamese descriptions, hotspots, statuses and planted duplicates) are COPYed
straight into ``complaint`` with the session's triggers off (``session_replication_role =
replica``; the footprint the trigger would copy from the point is written directly).

Only for a benchmark database of its own (``<name>_triage``): its complaints are not routed
and its rollups and area placements are empty.
"""

import io
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from bench.common import console
from demo import seed as demo_seed
from demo.city import build_demo_city
from demo.complaints import DemoComplaint, generate_complaints
from demo.seed import COPY_COLUMNS, _copy_value

YEARS = 3
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # fixed, so that a rebuilt database is the same one
BATCH = 50_000
COLUMNS = (*COPY_COLUMNS, "footprint")


def ensure_triage_data(engine: Engine, n: int) -> None:
    """``n`` demo complaints over :data:`YEARS` years ending at :data:`NOW`; rebuilt only
    when the database holds another number."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM complaint")).scalar_one() == n:
            return
    console.print(f"Writing {n:,} demo complaints into the triage benchmark database…")
    start = time.perf_counter()
    demo_seed.reset(engine)
    generations = build_demo_city()
    demo_seed.seed_boundaries(engine, generations)
    demo_seed.seed_organisation(engine, generations)
    outline = next(a.geometry for a in generations[-1].areas if a.level == "city")
    copy_complaints(engine, generate_complaints(n, outline, seed=7, now=NOW, years=YEARS))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE complaint"))
    console.print(f"  written in {time.perf_counter() - start:.0f} s")


def copy_complaints(engine: Engine, complaints: Iterable[DemoComplaint]) -> None:
    """COPY in batches (triggers off), then link the marked duplicates to their originals."""
    duplicates = io.StringIO()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        cursor = conn.connection.dbapi_connection.cursor()
        buffer = io.StringIO()
        for done, complaint in enumerate(complaints, 1):
            buffer.write(_line(complaint))
            if complaint.duplicate_of is not None:
                duplicates.write(f"{complaint.public_id}\t{complaint.duplicate_of}\n")
            if done % BATCH == 0:
                _flush(cursor, buffer, f"complaint ({', '.join(COLUMNS)})")
                console.print(f"  {done:,}", end="\r")
        _flush(cursor, buffer, f"complaint ({', '.join(COLUMNS)})")
        conn.execute(text("CREATE TEMPORARY TABLE marked (public_id text, original text) "
                          "ON COMMIT DROP"))
        _flush(cursor, duplicates, "marked")
        conn.execute(text("""
            UPDATE complaint c SET duplicate_of = o.id
            FROM marked m JOIN complaint o ON o.public_id = m.original
            WHERE c.public_id = m.public_id"""))


def _line(c: DemoComplaint) -> str:
    point = f"SRID=4326;POINT({c.lon!r} {c.lat!r})"
    values = (c.public_id, c.description, c.category_code, point, c.address, c.status,
              c.channel, c.created_at, c.resolved_at or c.first_action_at or c.created_at,
              c.first_action_at, c.resolved_at, c.rating, c.rated_at, c.reporter_name,
              c.reporter_phone, c.reporter_email, point)
    return "\t".join(_copy_value(v) for v in values) + "\n"


def _flush(cursor: object, buffer: io.StringIO, target: str) -> None:
    buffer.seek(0)
    cursor.copy_expert(f"COPY {target} FROM STDIN", buffer)  # type: ignore[attr-defined]
    buffer.seek(0)
    buffer.truncate()
