"""`phananh import-boundaries` end to end: files in other CRSs and formats, repair, upsert."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy import Engine, text

from db.engine import make_engine
from settings import Settings
from tests.conftest import fresh_database, phananh

TO_WGS84 = Transformer.from_crs(32648, 4326, always_xy=True)
BOWTIE_UTM = Polygon([(580_000, 2_320_000), (584_000, 2_324_000), (584_000, 2_320_000),
                      (580_000, 2_324_000), (580_000, 2_320_000)])


@pytest.fixture(scope="module")
def import_db() -> Iterator[tuple[str, Engine]]:
    for url in fresh_database():
        engine = make_engine(Settings(database_url=url).sqlalchemy_url)
        yield url, engine
        engine.dispose()


def to_wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda x, y: TO_WGS84.transform(x, y), interleaved=False)


def districts_utm() -> list[tuple[str, Polygon]]:
    """Four 10 km squares in UTM 48N around Hanoi, plus the bow-tie that needs repair."""
    squares = [(f"D{i}", box(570_000 + 10_000 * (i % 2), 2_310_000 + 10_000 * (i // 2),
                             580_000 + 10_000 * (i % 2), 2_320_000 + 10_000 * (i // 2)))
               for i in range(4)]
    return [*squares, ("D9", BOWTIE_UTM)]


def write(path: Path, features: list[tuple[str, Polygon]], crs: str, driver: str,
          extra: dict[str, list] | None = None) -> None:
    fields = {"ma": [code for code, _ in features], "ten": [f"Quận {c}" for c, _ in features],
              **(extra or {})}
    pyogrio.raw.write(path, geometry=np.array([shapely.to_wkb(g) for _, g in features],
                                              dtype=object),
                      field_data=[np.array(v, dtype=object) for v in fields.values()],
                      fields=list(fields), crs=crs, driver=driver, geometry_type="Polygon")


def test_utm_geopackage_is_reprojected_repaired_and_reimported_idempotently(
    import_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = import_db
    path = tmp_path / "districts.gpkg"
    write(path, districts_utm(), "EPSG:32648", "GPKG")
    first = phananh(url, "import-boundaries", str(path), "--level", "district",
                    "--generation", "test-gen", "--valid-from", "2020-01-01")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "5 district areas read" in first.stdout and "5 new, 0 updated" in first.stdout
    assert "repaired D9: Self-intersection" in first.stdout
    with engine.connect() as conn:
        stored = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in conn.execute(text(
            "SELECT code, ST_AsBinary(geom) FROM admin_area WHERE level = 'district'"))}
        parts = conn.execute(text("SELECT count(*) FROM admin_area_part")).scalar_one()
    for code, utm in districts_utm()[:4]:
        expected = to_wgs84(utm)
        assert stored[code].symmetric_difference(expected).area < 1e-12, code
    repaired = to_wgs84(shapely.make_valid(BOWTIE_UTM))
    assert isinstance(stored["D9"], MultiPolygon) and stored["D9"].is_valid
    assert stored["D9"].symmetric_difference(repaired).area < 1e-10
    assert parts >= 5

    again = phananh(url, "import-boundaries", str(path), "--level", "district",
                    "--generation", "test-gen")
    assert again.returncode == 0 and "0 new, 5 updated" in again.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM admin_area")).scalar_one() == 5
        assert conn.execute(text("SELECT count(*) FROM admin_area_part")).scalar_one() == parts


def test_wards_find_their_district_spatially(import_db: tuple[str, Engine],
                                             tmp_path: Path) -> None:
    url, engine = import_db
    wards = []
    for code, square in districts_utm()[:4]:
        x0, y0, *_ = square.bounds
        wards += [(f"{code}-W{j}", box(x0 + 5_000 * (j % 2), y0 + 5_000 * (j // 2),
                                      x0 + 5_000 * (j % 2 + 1), y0 + 5_000 * (j // 2 + 1)))
                  for j in range(4)]
    path = tmp_path / "wards.geojson"
    write(path, [(c, to_wgs84(g)) for c, g in wards],
          "EPSG:4326", "GeoJSON", extra={"dan_so": [1000 + i for i in range(len(wards))]})
    result = phananh(url, "import-boundaries", str(path), "--level", "ward",
                     "--generation", "test-gen")
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        parents = dict(conn.execute(text("""SELECT w.code, d.code FROM admin_area w
            JOIN admin_area d ON d.id = w.parent_id WHERE w.level = 'ward'""")).all())
        populations = dict(conn.execute(text(
            "SELECT code, population FROM admin_area WHERE level = 'ward'")).all())
    # The parent is whichever district shapely finds around the ward's interior point.
    districts = districts_utm()[:4]
    for code, ward in wards:
        inside = ward.representative_point()
        assert parents[code] == next(c for c, d in districts if d.covers(inside))
    assert populations[wards[3][0]] == 1003


def test_bad_files_are_refused_and_nothing_is_imported(import_db: tuple[str, Engine],
                                                       tmp_path: Path) -> None:
    url, engine = import_db
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM admin_area")).scalar_one()
    duplicated = tmp_path / "dup.geojson"
    write(duplicated, [("X1", box(105.0, 21.0, 105.1, 21.1)), ("X1", box(105.2, 21.0, 105.3,
                                                                          21.1))],
          "EPSG:4326", "GeoJSON")
    no_code = tmp_path / "nocode.geojson"
    no_code.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"label": "x"},
        "geometry": {"type": "Polygon", "coordinates": [[[105, 21], [105.1, 21], [105.1, 21.1],
                                                         [105, 21]]]}}]}))
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    cases = [
        ((str(duplicated), "--level", "ward"), "Codes repeat"),
        ((str(no_code), "--level", "ward"), "Cannot guess which field"),
        ((str(no_code), "--level", "ward", "--code-field", "ma"), "not in the file"),
        ((str(broken), "--level", "ward"), "Cannot read"),
        ((str(tmp_path / "missing.geojson"), "--level", "ward"), "No such file"),
        ((str(duplicated), "--level", "province"), "Unknown level"),
    ]
    for args, message in cases:
        result = phananh(url, "import-boundaries", *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert message in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stdout + result.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM admin_area")).scalar_one() == before


@pytest.mark.parametrize("command", [[], ["db"], ["db", "upgrade"], ["import-boundaries"],
                                     ["seed-demo"], ["serve"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = phananh("postgresql://unused/none", *command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_commands_start_without_the_heavy_libraries() -> None:
    """``phananh`` imports what a command needs when it runs: learning (scikit-learn,
    scipy), GDAL's readers and writers (pyogrio, with pandas and geopandas), migrations
    (alembic) and the GraphQL schema (strawberry) took 2.5 s of every command's start,
    ``--help`` included."""
    heavy = ("sklearn", "scipy", "pyogrio", "pandas", "geopandas", "alembic", "strawberry")
    script = (f"import sys, cli.main; print(','.join(m for m in {heavy!r} "
              "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "", f"imported at start: {result.stdout.strip()}"


def test_seed_demo_loads_the_years_asked() -> None:
    """`phananh seed-demo` end to end: the city, N complaints over the years asked, accounts;
    a second run refuses to seed on top, and --reset starts over."""
    for url in fresh_database():
        engine = make_engine(Settings(database_url=url).sqlalchemy_url)
        try:
            result = phananh(url, "seed-demo", "--complaints", "800", "--years", "2")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "800 complaints" in result.stdout and "city_admin" in result.stdout
            with engine.connect() as conn:
                count, days = conn.execute(text(
                    "SELECT count(*), date_part('day', max(created_at) - min(created_at)) "
                    "FROM complaint")).one()
            assert count == 800 and 700 < days <= 730
            # Each complaint written once, routed and dated (no dead versions left behind);
            # only the demo citizen's own complaints are updated, to link them to the account,
            # and the planted duplicates, to link them to their original once it has an id.
            with engine.connect() as conn:
                written = conn.execute(text(
                    "SELECT sum(n_tup_ins), sum(n_tup_upd) FROM pg_stat_user_tables "
                    "WHERE relid IN (SELECT relid FROM pg_partition_tree('complaint'))")).one()
                routed, linked, marked = conn.execute(text(
                    "SELECT count(*) FILTER (WHERE ward_id IS NOT NULL AND due_at IS NOT NULL),"
                    "       count(reporter_user_id), count(duplicate_of) FROM complaint")).one()
            assert tuple(written) == (800, linked + marked) and routed == 800
            assert 0 < linked <= 20 and marked < 100
            again = phananh(url, "seed-demo", "--complaints", "5")
            assert again.returncode == 0 and "already has complaints" in again.stdout
            reset = phananh(url, "seed-demo", "--complaints", "5", "--reset")
            assert reset.returncode == 0, reset.stdout + reset.stderr
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM complaint")).scalar_one() == 5
            refused = phananh(url, "seed-demo", "--years", "0")
            assert refused.returncode == 2 and "years" in refused.stderr
        finally:
            engine.dispose()
