"""Snapshots of the statistics' durations (analytics/snapshots.py), in total, per category
and per district and ward: they answer only while they are exact, or young enough and hold
the caller's last write, and what they answer equals a hand computation over the complaints
as of their read."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from analytics import snapshots
from app import create_app
from db.complaints import ComplaintFilter
from db.nodes import READ_AFTER
from settings import Settings
from tests.conftest import Demo, GraphQLClient, StatementCounter, new_complaint, phananh
from tests.test_analytics_kpi import LOCAL, complaint_rows, iso, percentiles

DURATIONS = """medianHoursToFirstAction p90HoursToFirstAction medianHoursToResolution
               p90HoursToResolution"""
STATS = f"""query($from: DateTime, $to: DateTime) {{
  stats(from: $from, to: $to) {{
    asOf durationsAsOf areaDurationsAsOf
    summary {{ received processed {DURATIONS} }}
    byCategory {{ code kpi {{ received processed {DURATIONS} }} }}
    byDistrict {{ code kpi {{ received processed {DURATIONS} }} }}
    byWard {{ code kpi {{ received processed {DURATIONS} }} }}
  }}
}}"""
SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }"""
# The tables the durations are read from: per area, and in total and per category.
READS = ("complaint_area_duration_values", "complaint_duration_rollup")
PROCESSED = ("RESOLVED", "REJECTED", "DUPLICATE", "CLOSED")


@pytest.fixture
def window(demo: Demo, engine: Engine) -> dict[str, str]:
    """Whole days in the city holding every demo complaint, and no snapshot kept yet."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stats_snapshot"))
    start, end = (datetime.combine(moment.astimezone(LOCAL).date(), time(), LOCAL)
                  for moment in (demo.now - timedelta(days=3 * 365),
                                 datetime.now(LOCAL) + timedelta(days=1)))
    return {"from": iso(start), "to": iso(end)}


@contextmanager
def stats_client(settings: Settings, engine: Engine, max_age_s: float
                 ) -> Iterator[GraphQLClient]:
    app = create_app(settings.model_copy(
        update={"stats_snapshot_max_age_seconds": max_age_s}), engine)
    with TestClient(app) as client:
        yield GraphQLClient(client)


@pytest.fixture
def gql_kept(settings: Settings, engine: Engine) -> Iterator[GraphQLClient]:
    """A client of an app that keeps snapshots for 300 s."""
    with stats_client(settings, engine, 300) as client:
        yield client


def durations(result: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The four durations in total, of each category, district and ward."""
    found = {("summary", ""): tuple(result["summary"][name] for name in DURATIONS.split())}
    return found | {(level, row["code"]): tuple(row["kpi"][name] for name in DURATIONS.split())
                    for level in LEVELS for row in result[level]}


LEVELS = ("byCategory", "byDistrict", "byWard")


def by_hand(engine: Engine, window: dict[str, str]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The same durations, numpy's percentiles over the complaints' rows."""
    start, end = (datetime.fromisoformat(window[k]) for k in ("from", "to"))
    rows = [r for r in complaint_rows(engine) if start <= r.created_at < end]
    groups = {("summary", ""): rows}
    for level, column in zip(LEVELS, ("category_code", "district", "ward"), strict=True):
        for code in {getattr(r, column) for r in rows} - {None}:
            groups[level, code] = [r for r in rows if getattr(r, column) == code]
    return {key: (*percentiles([hours(r.first_action_at, r.created_at) for r in mine]),
                  *percentiles([hours(r.resolved_at, r.created_at) for r in mine
                                if r.status in PROCESSED]))
            for key, mine in groups.items()}


def hours(end: datetime | None, start: datetime) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def assert_close(got: dict[tuple[str, str], tuple[Any, ...]],
                 expected: dict[tuple[str, str], tuple[Any, ...]]) -> None:
    """Every area of ``expected`` with the same durations (to float rounding: the durations
    are summed in another order); areas with no complaint have none."""
    for key, values in got.items():
        want = expected.get(key, (None,) * 4)
        assert all((a is None and b is None) or (a is not None and b is not None
                                                 and abs(a - b) <= 1e-6 * max(1, abs(b)))
                   for a, b in zip(values, want, strict=True)), (key, values, want)
    assert expected.keys() <= got.keys()


def duration_reads(counter: StatementCounter) -> int:
    """The statements so far that read durations: 3 for a request that reads them all (the
    histograms' one, and each duration's values per area)."""
    return sum(any(table in s for table in READS) for s in counter.statements)


def read_at(result: dict[str, Any]) -> set[str]:
    """When the request's durations were read: in total and per category, per area."""
    return {result["durationsAsOf"], result["areaDurationsAsOf"]}


def resolved_long_after(engine: Engine, demo: Demo) -> str:
    """A new complaint of a ward, received 300 days ago and resolved 5,000 hours later (a
    duration that moves its ward's percentiles); the ward's code."""
    ward = demo.areas("demo-2025", "ward")[0].code
    public_id = new_complaint(engine, ward, status="RESOLVED", resolved_days_ago=0)
    with engine.begin() as conn:
        conn.execute(text("""
            UPDATE complaint SET created_at = now() - interval '300 days',
                first_action_at = now() - interval '299 days',
                resolved_at = now() - interval '300 days' + interval '5000 hours'
            WHERE public_id = :public_id"""), {"public_id": public_id})
    return ward


def test_a_snapshot_answers_within_its_age_until_refreshed(
        gql_kept: GraphQLClient, engine: Engine, demo: Demo, window: dict[str, str],
        count_statements: StatementCounter) -> None:
    """The first request reads the durations and keeps them; the next is answered from the
    snapshot, reading no duration; after a write its durations stay those of the snapshot
    (the counts are read anew), dated by `areaDurationsAsOf`; `refresh` re-reads them, and
    they include the write. Each answer equals numpy's over the complaints at its time."""
    before = by_hand(engine, window)
    first = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == 3
    assert read_at(first) == {first["asOf"]}
    assert_close(durations(first), before)

    second = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == 3  # none more
    assert all(datetime.fromisoformat(at) < datetime.fromisoformat(second["asOf"])
               for at in read_at(second))
    assert durations(second) == durations(first)

    ward = resolved_long_after(engine, demo)
    after = by_hand(engine, window)
    assert after["byWard", ward] != before["byWard", ward]
    assert after["summary", ""] != before["summary", ""]
    stale = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == 3
    assert durations(stale) == durations(first)
    assert stale["summary"]["processed"] == first["summary"]["processed"] + 1  # counts: read
    processed = {r["code"]: r["kpi"]["processed"] for r in stale["byWard"]}
    assert processed[ward] == 1 + {r["code"]: r["kpi"]["processed"]
                                   for r in first["byWard"]}[ward]

    refreshed = snapshots.refresh(engine, timedelta(days=1))
    days = snapshots.Subject(*(datetime.fromisoformat(window[k]).date()
                               for k in ("from", "to")))
    assert [(one.kind, one.subject, one.dropped) for one in refreshed] == [
        (snapshots.Kind.AREAS, days, None), (snapshots.Kind.TOTALS, days, None)]
    assert snapshots.refresh(engine, timedelta(days=1)) == []  # nothing behind any more
    fresh = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == 6  # the refresh's three reads
    assert min(read_at(fresh)) > max(read_at(stale))
    assert_close(durations(fresh), after)


def test_a_callers_own_write_is_never_hidden_by_a_snapshot(
        gql_kept: GraphQLClient, demo: Demo, window: dict[str, str],
        count_statements: StatementCounter) -> None:
    """With snapshots on, a write hands the caller its WAL position even without replicas;
    their next request is answered from the durations themselves, not from the snapshots kept
    before their write; a caller without the position gets the snapshots."""
    gql_kept.data(STATS, window)
    ward = demo.areas("demo-2025", "ward")[0]
    point = ward.geometry.representative_point()
    response = gql_kept.client.post("/graphql", json={"query": SUBMIT, "variables": {"i": {
        "categoryCode": "other", "description": "Đèn đường hỏng", "lon": point.x,
        "lat": point.y}}})
    assert "errors" not in response.json()
    sealed = response.headers[READ_AFTER]
    assert gql_kept.client.cookies.get(READ_AFTER) == sealed
    reads = duration_reads(count_statements)
    mine = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == reads + 3
    assert read_at(mine) == {mine["asOf"]}
    gql_kept.client.cookies.clear()
    theirs = gql_kept.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == reads + 3
    assert max(read_at(theirs)) < theirs["asOf"]


def test_an_exact_snapshot_answers_at_any_age_and_none_after_a_write(
        settings: Settings, engine: Engine, window: dict[str, str],
        count_statements: StatementCounter) -> None:
    """A snapshot whose version is the current one answers however old; any write to
    complaints ends that, and one older than the maximum age then answers no more."""
    with stats_client(settings, engine, 0.001) as client:
        client.data(STATS, window)
        old = client.data(STATS, window)["stats"]
        assert duration_reads(count_statements) == 3
        assert max(read_at(old)) < old["asOf"]
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET description = description "
                              "WHERE id = (SELECT min(id) FROM complaint)"))
        new = client.data(STATS, window)["stats"]
    assert duration_reads(count_statements) == 6
    assert read_at(new) == {new["asOf"]}


def test_snapshots_are_off_by_default(gql: GraphQLClient, engine: Engine,
                                      window: dict[str, str]) -> None:
    for _ in range(2):
        result = gql.data(STATS, window)["stats"]
        assert read_at(result) == {result["asOf"]}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stats_snapshot")).scalar_one() == 0


def test_only_whole_day_windows_of_every_category_are_kept() -> None:
    start = datetime(2025, 1, 1, tzinfo=LOCAL)
    kept = snapshots.Subject(start.date(), None)
    for kind in (snapshots.Kind.TOTALS, snapshots.Kind.AREAS):
        assert snapshots.subject_of(kept.as_filter(), kind) == kept
        for other in (ComplaintFilter(created_from=start + timedelta(hours=1)),
                      ComplaintFilter(created_from=start, categories=["other"]),
                      ComplaintFilter(created_from=start, statuses=["RESOLVED"]),
                      ComplaintFilter(created_from=start, ward_codes=["W1"])):
            assert snapshots.subject_of(other, kind) is None


def test_refresh_forgets_windows_nobody_asked_for(
        gql_kept: GraphQLClient, engine: Engine, demo: Demo, window: dict[str, str],
        database_url: str) -> None:
    """``phananh rollups refresh`` re-reads the windows behind and drops those not asked for
    within ``--asked-within-days``."""
    gql_kept.data(STATS, window)
    resolved_long_after(engine, demo)
    done = phananh(database_url, "rollups", "refresh", "--asked-within-days", "1")
    assert done.returncode == 0, done.stderr
    assert "2 snapshots refreshed" in done.stdout
    with engine.begin() as conn:
        conn.execute(text("UPDATE stats_snapshot SET asked_at = now() - interval '2 days'"))
    done = phananh(database_url, "rollups", "refresh", "--asked-within-days", "1")
    assert "0 snapshots refreshed" in done.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stats_snapshot")).scalar_one() == 0
    helped = phananh(database_url, "rollups", "refresh", "--help")
    assert helped.returncode == 0 and "--every" in helped.stdout


def test_a_snapshot_asked_for_again_is_kept_by_the_refresh(
        gql_kept: GraphQLClient, engine: Engine, window: dict[str, str]) -> None:
    """A request answered by a snapshot marks it asked for (once an hour at most), so the
    refresh keeps the windows dashboards still ask for."""
    gql_kept.data(STATS, window)
    with engine.begin() as conn:
        conn.execute(text("UPDATE stats_snapshot SET asked_at = now() - interval '2 hours'"))
    answered = gql_kept.data(STATS, window)["stats"]
    assert max(read_at(answered)) < answered["asOf"]  # from the snapshots
    with engine.connect() as conn:
        ages = conn.execute(text("SELECT now() - asked_at FROM stats_snapshot")).scalars().all()
    assert len(ages) == 2 and all(age < timedelta(minutes=1) for age in ages)
    assert snapshots.refresh(engine, timedelta(hours=1)) == []  # kept, and current
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stats_snapshot")).scalar_one() == 2
