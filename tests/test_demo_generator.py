"""The demo generator's promises, checked with independent shapely computations (no database).

Jurisdiction lookups and hotspot statistics downstream trust that demo wards tile their
districts exactly and that complaint data has the advertised shape; these tests recompute
those properties from the raw geometries instead of trusting the generator's own bookkeeping.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon

from demo.city import DemoArea, DemoGeneration, build_demo_city, city_outline
from demo.complaints import (
    CATEGORY_CODES,
    SLA_HOURS,
    DemoComplaint,
    generate_complaints,
)

NOW = datetime(2025, 11, 28, 3, 30, 15, 500_000, tzinfo=UTC)
N_COMPLAINTS = 20_000
PROCESSED = {"RESOLVED", "REJECTED", "DUPLICATE", "CLOSED"}
RELATIVE_TOLERANCE = 1e-9
REFORM = date(2025, 7, 1)


@pytest.fixture(scope="module")
def generations() -> tuple[DemoGeneration, ...]:
    return build_demo_city()


@pytest.fixture(scope="module")
def complaints(generations: tuple[DemoGeneration, ...]) -> list[DemoComplaint]:
    return list(generate_complaints(N_COMPLAINTS, city_outline(generations), now=NOW))


def _level(generation: DemoGeneration, level: str) -> list[DemoArea]:
    return [a for a in generation.areas if a.level == level]


def _overlap_area(geoms: list[MultiPolygon]) -> float:
    """Total area of pairwise intersections, found with a spatial index."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    arr = np.asarray(geoms, dtype=object)
    return float(shapely.area(shapely.intersection(arr[left[pairs]], arr[right[pairs]])).sum())


def _relative_difference(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return shapely.area(shapely.symmetric_difference(a, b)) / shapely.area(b)


def test_generations_have_expected_shape(generations: tuple[DemoGeneration, ...]) -> None:
    old, new = generations
    assert (old.name, old.valid_from, old.valid_to) == ("demo-2019", date(2019, 1, 1), REFORM)
    assert (new.name, new.valid_from, new.valid_to) == ("demo-2025", old.valid_to, None)
    for generation, expected_wards in ((old, 300), (new, 126)):
        counts = Counter(a.level for a in generation.areas)
        assert counts["city"] == 1
        assert counts["district"] == 12
        assert abs(counts["ward"] - expected_wards) <= expected_wards * 0.1


def test_city_is_a_hanoi_sized_simple_polygon(generations: tuple[DemoGeneration, ...]) -> None:
    outline = city_outline(generations)
    assert len(outline.geoms) == 1 and not outline.geoms[0].interiors
    centre = outline.centroid
    assert abs(centre.x - 105.85) < 0.1 and abs(centre.y - 21.03) < 0.1
    minx, miny, maxx, maxy = outline.bounds
    width_km = (maxx - minx) * 111.32 * np.cos(np.radians(21.03))
    height_km = (maxy - miny) * 111.32
    assert 45 < width_km < 80 and 55 < height_km < 90


def test_every_geometry_is_a_valid_multipolygon(generations: tuple[DemoGeneration, ...]) -> None:
    for generation in generations:
        for area in generation.areas:
            assert isinstance(area.geometry, MultiPolygon), area.code
            assert shapely.is_valid(area.geometry), (
                area.code,
                shapely.is_valid_reason(area.geometry),
            )
            assert not area.geometry.is_empty


@pytest.mark.parametrize("index", [0, 1])
def test_wards_nest_exactly_in_districts_and_districts_in_city(
    generations: tuple[DemoGeneration, ...], index: int
) -> None:
    generation = generations[index]
    (city,) = _level(generation, "city")
    districts = _level(generation, "district")
    wards = _level(generation, "ward")
    city_area = shapely.area(city.geometry)

    assert _overlap_area([w.geometry for w in wards]) < RELATIVE_TOLERANCE * city_area
    assert _overlap_area([d.geometry for d in districts]) < RELATIVE_TOLERANCE * city_area
    for district in districts:
        members = [w.geometry for w in wards if w.parent_code == district.code]
        assert members, district.code
        union = shapely.union_all(members)
        assert _relative_difference(union, district.geometry) < RELATIVE_TOLERANCE, district.code
    districts_union = shapely.union_all([d.geometry for d in districts])
    assert _relative_difference(districts_union, city.geometry) < RELATIVE_TOLERANCE
    assert {d.parent_code for d in districts} == {city.code}


def test_city_and_districts_are_shared_by_both_generations(
    generations: tuple[DemoGeneration, ...],
) -> None:
    old, new = ([a for a in g.areas if a.level != "ward"] for g in generations)
    assert [a.code for a in old] == [a.code for a in new]
    for a, b in zip(old, new, strict=True):
        assert (a.name, a.population) == (b.name, b.population)
        assert shapely.equals_exact(a.geometry, b.geometry, tolerance=0.0)


def test_2025_wards_are_mergers_of_2019_wards_of_one_district(
    generations: tuple[DemoGeneration, ...],
) -> None:
    old_wards = _level(generations[0], "ward")
    new_wards = _level(generations[1], "ward")
    probes = shapely.point_on_surface(np.asarray([w.geometry for w in old_wards], dtype=object))
    old_idx, new_idx = shapely.STRtree([w.geometry for w in new_wards]).query(
        probes, predicate="within"
    )
    assert sorted(old_idx.tolist()) == list(range(len(old_wards))), "each old ward in one new"
    members: dict[int, list[int]] = {}
    for o, n in zip(old_idx.tolist(), new_idx.tolist(), strict=True):
        members.setdefault(n, []).append(o)
    assert set(members) == set(range(len(new_wards)))
    for n, olds in members.items():
        new = new_wards[n]
        assert {old_wards[o].parent_code for o in olds} == {new.parent_code}, new.code
        union = shapely.union_all([old_wards[o].geometry for o in olds])
        assert _relative_difference(union, new.geometry) < RELATIVE_TOLERANCE, new.code
        assert new.population == sum(old_wards[o].population for o in olds)
    assert np.mean([len(v) for v in members.values()]) > 2


def test_codes_names_and_parents(generations: tuple[DemoGeneration, ...]) -> None:
    patterns = {0: r"W\d{4}", 1: r"P\d{3}"}
    for index, generation in enumerate(generations):
        codes = [a.code for a in generation.areas]
        assert len(codes) == len(set(codes))
        for level in ("city", "district", "ward"):
            areas = _level(generation, level)
            assert len({a.name for a in areas}) == len(areas)
            assert len({a.name_en for a in areas}) == len(areas)
        district_codes = {d.code for d in _level(generation, "district")}
        assert district_codes == {f"D{i:02d}" for i in range(1, 13)}
        for ward in _level(generation, "ward"):
            assert re.fullmatch(patterns[index], ward.code)
            assert ward.parent_code in district_codes
            assert ward.name.split()[0] in {"Phường", "Xã"}
            assert ward.name_en.isascii() and ward.name_en.endswith((" Ward", " Commune"))
        for district in _level(generation, "district"):
            assert district.name.split()[0] in {"Quận", "Huyện"}
            assert district.name_en.isascii() and district.name_en.endswith(" District")


def test_populations_are_denser_in_the_core(generations: tuple[DemoGeneration, ...]) -> None:
    for generation in generations:
        (city,) = _level(generation, "city")
        wards = _level(generation, "ward")
        assert all(isinstance(w.population, int) and w.population > 0 for w in wards)
        assert city.population == sum(w.population for w in wards)
        density = {
            kind: np.median(
                [w.population / shapely.area(w.geometry) for w in wards if w.name.startswith(kind)]
            )
            for kind in ("Phường", "Xã")
        }
        assert density["Phường"] > 3 * density["Xã"]


def test_city_is_deterministic_and_seeded() -> None:
    def fingerprint(generations: tuple[DemoGeneration, ...]) -> list[tuple[object, ...]]:
        return [
            (g.name, a.code, a.name, a.population, shapely.to_wkb(a.geometry))
            for g in generations
            for a in g.areas
        ]

    assert fingerprint(build_demo_city(7)) == fingerprint(build_demo_city(7))
    assert fingerprint(build_demo_city(7)) != fingerprint(build_demo_city(8))


def test_complaints_lie_inside_the_city(
    generations: tuple[DemoGeneration, ...], complaints: list[DemoComplaint]
) -> None:
    assert len(complaints) == N_COMPLAINTS
    lon = np.array([c.lon for c in complaints])
    lat = np.array([c.lat for c in complaints])
    assert shapely.contains_xy(city_outline(generations), lon, lat).all()


def test_complaints_cluster_in_hotspots(complaints: list[DemoComplaint]) -> None:
    """With 60 % of points in ~10 Gaussian clusters, a few grid cells must hold a large share."""
    lon = np.array([c.lon for c in complaints])
    lat = np.array([c.lat for c in complaints])
    counts, _, _ = np.histogram2d(lon, lat, bins=60)
    top = np.sort(counts.ravel())[::-1][: counts.size // 50]
    assert top.sum() / len(complaints) > 0.3


def test_complaint_fields(complaints: list[DemoComplaint]) -> None:
    assert set(SLA_HOURS) == set(CATEGORY_CODES)
    ids = [c.public_id for c in complaints]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"PA-[A-Z2-7]{10}", i) for i in ids)
    assert {c.category_code for c in complaints} == set(CATEGORY_CODES)
    assert {c.channel for c in complaints} <= {"app", "web", "hotline", "zalo", "email"}
    for c in complaints[:500]:
        assert c.description and c.address and c.reporter_name
        assert re.fullmatch(r"0[35789]\d{8}", c.reporter_phone)
        assert re.fullmatch(r"[a-z.]+\.\d+@example\.com", c.reporter_email)


def test_outcome_shares_match_hanoi_figures(complaints: list[DemoComplaint]) -> None:
    n = len(complaints)
    processed = [c for c in complaints if c.status in PROCESSED]
    rated = [c for c in complaints if c.rating is not None]
    positive = [c for c in rated if c.rating in {"SATISFIED", "ACCEPTED"}]
    assert abs(len(processed) / n - 0.843) <= 0.01
    assert abs(len(rated) / n - 7_194 / 17_083) <= 0.01
    assert abs(len(positive) / len(rated) - 0.55) <= 0.01
    assert all(c.status in PROCESSED for c in rated)
    late = [
        c
        for c in processed
        if c.resolved_at - c.created_at > timedelta(hours=SLA_HOURS[c.category_code])
    ]
    assert 0.1 < len(late) / len(processed) < 0.2


def test_timelines_are_ordered_and_consistent(complaints: list[DemoComplaint]) -> None:
    assert complaints[0].created_at >= NOW - timedelta(days=365)
    for c in complaints:
        times = [t for t in (c.created_at, c.first_action_at, c.resolved_at, c.rated_at) if t]
        assert all(t.utcoffset() == timedelta(0) for t in times)
        assert times == sorted(times) and times[-1] <= NOW, c.public_id
        assert (c.first_action_at is None) == (c.status == "RECEIVED"), c.public_id
        assert (c.resolved_at is not None) == (c.status in PROCESSED), c.public_id
        assert (c.rated_at is None) == (c.rating is None), c.public_id
    assert [c.created_at for c in complaints] == sorted(c.created_at for c in complaints)


def test_complaints_follow_weekly_and_daily_rhythm(complaints: list[DemoComplaint]) -> None:
    local = [c.created_at + timedelta(hours=7) for c in complaints]
    weekday = Counter(t.weekday() for t in local)
    assert min(weekday[d] for d in range(5)) > 1.4 * max(weekday[5], weekday[6])
    daytime = sum(7 <= t.hour < 19 for t in local)
    assert daytime / len(local) > 0.7


def test_some_hotspot_intensifies(complaints: list[DemoComplaint]) -> None:
    """An emerging-hotspot analysis needs cells whose recent counts clearly exceed older ones."""
    lon = np.array([c.lon for c in complaints])
    lat = np.array([c.lat for c in complaints])
    recent = np.array([c.created_at > NOW - timedelta(days=120) for c in complaints])
    edges = [np.linspace(lon.min(), lon.max(), 41), np.linspace(lat.min(), lat.max(), 41)]
    new, _, _ = np.histogram2d(lon[recent], lat[recent], bins=edges)
    old, _, _ = np.histogram2d(lon[~recent], lat[~recent], bins=edges)
    busy = new + old > 100
    # 120 of 365 days is a third of the window; a growing cell gets well over a third.
    assert (new[busy] / (new[busy] + old[busy]) > 0.5).any()


def test_complaints_are_deterministic(generations: tuple[DemoGeneration, ...]) -> None:
    outline = city_outline(generations)
    first = list(generate_complaints(2_000, outline, seed=3, now=NOW))
    assert first == list(generate_complaints(2_000, outline, seed=3, now=NOW))
    assert first != list(generate_complaints(2_000, outline, seed=4, now=NOW))


def test_naive_now_is_rejected(generations: tuple[DemoGeneration, ...]) -> None:
    with pytest.raises(ValueError, match="timezone"):
        next(generate_complaints(1, city_outline(generations), now=datetime(2025, 1, 1)))


def test_complaints_span_the_years_asked(generations: tuple[DemoGeneration, ...]) -> None:
    """Three years of history: every complaint inside them, each year well filled, the weekly
    rhythm kept, and growing hotspots growing over the whole span."""
    created = np.array([c.created_at.timestamp() for c in generate_complaints(
        6_000, city_outline(generations), seed=5, now=NOW, years=3)])
    start = (NOW - 3 * timedelta(days=365)).timestamp()
    assert created.min() >= start and created.max() <= NOW.timestamp()
    per_year, _ = np.histogram(created, bins=np.linspace(start, NOW.timestamp(), 4))
    assert per_year.min() > 0.2 * len(created), per_year
    assert created.min() < start + 7 * 86_400  # the first week is used, not only the last year


def test_years_below_one_are_refused(generations: tuple[DemoGeneration, ...]) -> None:
    with pytest.raises(ValueError, match="years"):
        next(generate_complaints(1, city_outline(generations), now=NOW, years=0))


@pytest.mark.parametrize("n", [1, 2, 5])
def test_tiny_demos_work(generations: tuple[DemoGeneration, ...], n: int) -> None:
    """So few complaints that most hotspots get none (this used to crash the sampler)."""
    assert len(list(generate_complaints(n, city_outline(generations), now=NOW))) == n
