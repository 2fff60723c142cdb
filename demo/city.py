"""A deterministic, Hanoi-sized demo city with two generations of administrative boundaries.

The backend needs boundaries to resolve jurisdictions, aggregate hotspots and show how a
boundary reform (Hanoi's July 2025 merger of wards) changes which unit owns a complaint.
Real boundaries carry licences and change, so the demo draws its own: a seeded, smoothed
star-shaped outline, Voronoi wards that are denser in the urban core, districts grown from
wards, and a 2025 generation whose wards are mergers of 2019 wards of the same district.

All geometry is built in a local metric plane (metres east/north of the centre) on a 1 m grid
so that every ward shares *identical* vertices with its neighbours; districts and the city are
coverage unions of wards, hence they nest exactly. Only at the end are coordinates mapped to
EPSG:4326 and rounded to 7 decimals (about 1 cm), which keeps the coverage valid because
shared vertices map to identical rounded coordinates.
"""

from __future__ import annotations

import heapq
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

CENTER_LON = 105.85
CENTER_LAT = 21.03
METRES_PER_DEGREE = 111_320.0
"""Spherical metres per degree of latitude; accurate to well under 1 % at city scale."""
METRES_PER_DEGREE_LON = METRES_PER_DEGREE * math.cos(math.radians(CENTER_LAT))

N_DISTRICTS = 12
N_WARDS_2019 = 300
N_WARDS_2025 = 126
REFORM_DATE = date(2025, 7, 1)

_HALF_WIDTH_M = 30_000.0
_HALF_HEIGHT_M = 35_000.0
_OUTLINE_VERTICES = 256
_GRID_M = 1.0
_DECIMALS = 7
_CORE_RADIUS_M = 10_000.0
# Target spacing of ward seed points: tight in the core, loose at the rural edge.
_SPACING_CORE_M = 1_200.0
_SPACING_EDGE_M = 4_200.0
_SPACING_RADIUS_M = 10_000.0
_SEED_MARGIN_M = 400.0

# Stages get independent random streams so that tuning one stage does not reshuffle the others.
_STAGE_OUTLINE, _STAGE_WARDS, _STAGE_DISTRICTS, _STAGE_POPULATION, _STAGE_NAMES = range(5)

SYLLABLES: tuple[str, ...] = (
    "An", "Bình", "Hòa", "Phú", "Thịnh", "Khánh", "Long", "Minh", "Tân", "Thành",
    "Đông", "Tây", "Nam", "Bắc", "Phúc", "Hưng", "Yên", "Lộc", "Mỹ", "Quang",
    "Trung", "Nghĩa", "Xuân", "Hải", "Sơn", "Thủy", "Lâm", "Đức", "Gia", "Kim",
    "Vĩnh", "Hồng", "Ngọc", "Thái", "Cát", "Vân", "Tiến", "Quốc", "Hà", "Liên",
)  # fmt: skip


@dataclass(frozen=True)
class DemoArea:
    """One administrative unit of one generation, ready to be loaded into the database."""

    code: str
    name: str
    name_en: str
    level: str
    parent_code: str | None
    geometry: MultiPolygon
    population: int | None


@dataclass(frozen=True)
class DemoGeneration:
    """A complete, self-consistent set of boundaries valid over a date range."""

    name: str
    valid_from: date | None
    valid_to: date | None
    areas: tuple[DemoArea, ...]


def build_demo_city(seed: int = 2025) -> tuple[DemoGeneration, ...]:
    """Build the 2019 and 2025 generations of the demo city; the same seed gives the same city."""
    outline = _outline(_rng(seed, _STAGE_OUTLINE))
    seeds = _ward_seeds(_rng(seed, _STAGE_WARDS), outline)
    ward_geoms = _ward_polygons(seeds, outline)
    adjacency = _shared_boundaries(ward_geoms)
    district_of = _grow_districts(_rng(seed, _STAGE_DISTRICTS), seeds, adjacency)

    distance = np.hypot(seeds[:, 0], seeds[:, 1])
    urban = distance < _CORE_RADIUS_M
    population = _ward_population(_rng(seed, _STAGE_POPULATION), ward_geoms, distance)
    names_rng = _rng(seed, _STAGE_NAMES)
    district_names = _name_pool(names_rng)[:N_DISTRICTS]
    ward_names = _name_pool(names_rng)[: len(seeds)]

    lonlat = [_to_lonlat(geom) for geom in ward_geoms]
    districts: list[DemoArea] = []
    for d in range(N_DISTRICTS):
        members = [w for w in range(len(seeds)) if district_of[w] == d]
        pop = int(population[members].sum())
        is_urban = population[members][urban[members]].sum() * 2 >= pop
        districts.append(
            _area(
                code=f"D{d + 1:02d}",
                kind="Quận" if is_urban else "Huyện",
                base=district_names[d],
                parent_code="HN",
                geometry=_coverage_union(lonlat[w] for w in members),
                population=pop,
            )
        )
    city = DemoArea(
        code="HN",
        name="Thành phố Demo",
        name_en="Demo City",
        level="city",
        parent_code=None,
        geometry=_coverage_union(d.geometry for d in districts),
        population=int(population.sum()),
    )

    order_2019 = sorted(
        range(len(seeds)), key=lambda w: (district_of[w], -seeds[w, 1], seeds[w, 0])
    )
    wards_2019 = tuple(
        _area(
            code=f"W{i + 1:04d}",
            kind="Phường" if urban[w] else "Xã",
            base=ward_names[w],
            parent_code=districts[district_of[w]].code,
            geometry=lonlat[w],
            population=int(population[w]),
        )
        for i, w in enumerate(order_2019)
    )

    groups = _merge_wards(district_of, adjacency, population)
    merged = [_coverage_union(lonlat[w] for w in g) for g in groups]
    centroids = shapely.centroid(np.asarray(merged, dtype=object))
    order_2025 = sorted(
        range(len(groups)),
        key=lambda g: (district_of[groups[g][0]], -centroids[g].y, centroids[g].x),
    )
    wards_2025 = []
    for i, g in enumerate(order_2025):
        members = groups[g]
        # Like the real reform, a merged ward keeps the name of its most populous predecessor.
        namesake = max(members, key=lambda w: (population[w], -w))
        pop = int(population[members].sum())
        wards_2025.append(
            _area(
                code=f"P{i + 1:03d}",
                kind="Phường" if population[members][urban[members]].sum() * 2 >= pop else "Xã",
                base=ward_names[namesake],
                parent_code=districts[district_of[members[0]]].code,
                geometry=merged[g],
                population=pop,
            )
        )

    return (
        DemoGeneration(
            name="demo-2019",
            valid_from=date(2019, 1, 1),
            valid_to=REFORM_DATE,
            areas=(city, *districts, *wards_2019),
        ),
        DemoGeneration(
            name="demo-2025",
            valid_from=REFORM_DATE,
            valid_to=None,
            areas=(city, *districts, *wards_2025),
        ),
    )


def city_outline(generations: Sequence[DemoGeneration]) -> MultiPolygon:
    """The city polygon of the newest generation: where demo complaints should be scattered."""
    return next(a.geometry for a in generations[-1].areas if a.level == "city")


def ascii_name(name: str) -> str:
    """Strip Vietnamese diacritics ("Đông Hòa" -> "Dong Hoa") for English labels and slugs."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _rng(seed: int, stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, stage])


def _outline(rng: np.random.Generator) -> Polygon:
    """A smooth, noisy ellipse: star-shaped around the origin, so it is always simple and valid."""
    theta = np.linspace(0.0, 2.0 * np.pi, _OUTLINE_VERTICES, endpoint=False)
    a, b = _HALF_WIDTH_M, _HALF_HEIGHT_M
    radius = a * b / np.hypot(b * np.cos(theta), a * np.sin(theta))
    modulation = np.ones_like(theta)
    for k in range(2, 8):
        modulation += (
            rng.uniform(0.02, 0.09) / math.sqrt(k) * np.cos(k * theta + rng.uniform(0, 6.3))
        )
    # Short-wavelength noise, smoothed by a circular moving average, gives a ragged coastline feel.
    noise = rng.normal(0.0, 0.05, theta.size)
    kernel = np.ones(7) / 7
    noise = np.convolve(np.concatenate([noise[-3:], noise, noise[:3]]), kernel, mode="valid")
    radius *= np.clip(modulation + noise, 0.6, 1.4)
    ring = np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])
    return shapely.set_precision(Polygon(ring), _GRID_M)


def _spacing(distance: np.ndarray) -> np.ndarray:
    """Desired distance between ward seeds at a given distance from the centre."""
    rural = 1.0 - np.exp(-((distance / _SPACING_RADIUS_M) ** 2))
    return _SPACING_CORE_M + (_SPACING_EDGE_M - _SPACING_CORE_M) * rural


def _ward_seeds(rng: np.random.Generator, outline: Polygon) -> np.ndarray:
    """Dart-throwing with a density-dependent minimum distance: dense core, no sliver wards."""
    interior = outline.buffer(-_SEED_MARGIN_M)
    shapely.prepare(interior)
    minx, miny, maxx, maxy = interior.bounds
    accepted: list[tuple[float, float]] = []
    for _ in range(1_000):
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(2_000, 2))
        spacing = _spacing(np.hypot(xy[:, 0], xy[:, 1]))
        keep = shapely.contains_xy(interior, xy[:, 0], xy[:, 1])
        keep &= rng.random(len(xy)) < (_SPACING_CORE_M / spacing) ** 2
        for (x, y), s in zip(xy[keep], spacing[keep], strict=True):
            if accepted:
                pts = np.asarray(accepted)
                if np.min(np.hypot(pts[:, 0] - x, pts[:, 1] - y)) < 0.6 * s:
                    continue
            accepted.append((x, y))
            if len(accepted) == N_WARDS_2019:
                return np.round(np.asarray(accepted), 1)
    raise RuntimeError("could not place ward seeds; spacing parameters are too loose")


def _ward_polygons(seeds: np.ndarray, outline: Polygon) -> list[Polygon]:
    """Voronoi cells of the seeds clipped to the outline, as one consistent planar coverage.

    Clipping each cell separately would snap shared edges independently and leave hairline
    gaps; instead all cell edges and the outline are noded together once and polygonized.
    A convex cell can be cut in two by a concave bay of the outline; the piece that does not
    hold the seed is handed to the neighbour it shares the longest edge with.
    """
    points = shapely.points(seeds)
    frame = shapely.box(*outline.buffer(10_000).bounds)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame)
    )
    linework = shapely.union_all([*shapely.boundary(cells), outline.exterior], grid_size=_GRID_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    faces = faces[shapely.contains(outline, shapely.point_on_surface(faces))]

    seed_idx, face_idx = shapely.STRtree(faces).query(points, predicate="within")
    owner = dict(zip(face_idx.tolist(), seed_idx.tolist(), strict=True))
    shared = _shared_boundaries(list(faces))
    pending = [f for f in range(len(faces)) if f not in owner]
    while pending:
        unresolved = []
        for f in pending:
            owned = [(length, g) for g, length in shared[f].items() if g in owner]
            if owned:
                owner[f] = owner[max(owned)[1]]
            else:
                unresolved.append(f)
        if len(unresolved) == len(pending):
            raise RuntimeError("a piece of the city touches no ward")
        pending = unresolved

    parts: list[list[Polygon]] = [[] for _ in seeds]
    for f, w in sorted(owner.items()):
        parts[w].append(faces[f])
    return [p[0] if len(p) == 1 else _single_polygon(shapely.coverage_union_all(p)) for p in parts]


def _single_polygon(geom: shapely.Geometry) -> Polygon:
    if not isinstance(geom, Polygon):
        raise RuntimeError(f"merged ward is not a single polygon: {geom.geom_type}")
    return geom


def _shared_boundaries(polygons: list[Polygon]) -> list[dict[int, float]]:
    """Length of common boundary between each pair of polygons that share an edge (not a point)."""
    shared: list[dict[int, float]] = [{} for _ in polygons]
    left, right = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    boundaries = shapely.boundary(np.asarray(polygons, dtype=object))
    lengths = shapely.length(shapely.intersection(boundaries[left], boundaries[right]))
    for i, j, length in zip(left.tolist(), right.tolist(), lengths.tolist(), strict=True):
        if length > 0:
            shared[i][j] = shared[j][i] = length
    return shared


def _grow_districts(
    rng: np.random.Generator, seeds: np.ndarray, adjacency: list[dict[int, float]]
) -> list[int]:
    """Assign wards to the nearest of 12 district centres, growing over ward adjacency.

    Plain nearest-centre assignment can strand a ward behind a bay of the outline; growing
    each district outward from its centre, always claiming the cheapest reachable ward
    (Dijkstra with static keys), yields nearest-centre districts that are always contiguous.
    Outer centres have a larger weight so rural districts cover more ground, as in Hanoi.
    """
    inner, outer = 5, N_DISTRICTS - 5
    angles = np.concatenate(
        [
            rng.uniform(0, 2 * np.pi) + np.arange(inner) * 2 * np.pi / inner,
            rng.uniform(0, 2 * np.pi) + np.arange(outer) * 2 * np.pi / outer,
        ]
    )
    angles += rng.normal(0.0, 0.12, N_DISTRICTS)
    radii = np.concatenate([rng.uniform(3_000, 5_000, inner), rng.uniform(17_000, 22_000, outer)])
    centres = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    weights = np.concatenate([np.ones(inner), np.full(outer, 1.6)])

    cost = np.hypot(
        seeds[:, None, 0] - centres[None, :, 0], seeds[:, None, 1] - centres[None, :, 1]
    )
    cost /= weights[None, :]
    heap: list[tuple[float, int, int]] = []
    taken: set[int] = set()
    for d in range(N_DISTRICTS):
        start = next(int(w) for w in np.argsort(cost[:, d]) if int(w) not in taken)
        taken.add(start)
        heap.append((0.0, start, d))
    heapq.heapify(heap)
    district_of: dict[int, int] = {}
    while heap:
        _, ward, d = heapq.heappop(heap)
        if ward in district_of:
            continue
        district_of[ward] = d
        for nb in adjacency[ward]:
            if nb not in district_of:
                heapq.heappush(heap, (float(cost[nb, d]), nb, d))
    if len(district_of) != len(seeds):
        raise RuntimeError("the ward adjacency graph is not connected")
    return [district_of[w] for w in range(len(seeds))]


def _ward_population(
    rng: np.random.Generator, geoms: list[Polygon], distance: np.ndarray
) -> np.ndarray:
    """People per ward from a density that falls off from the core (~29,000/km² to ~1,500/km²)."""
    density = 1_500.0 + 28_000.0 * np.exp(-((distance / 7_000.0) ** 2))
    density *= rng.lognormal(0.0, 0.25, len(geoms))
    area_km2 = shapely.area(np.asarray(geoms, dtype=object)) / 1e6
    return np.round(area_km2 * density).astype(np.int64)


def _merge_wards(
    district_of: list[int], adjacency: list[dict[int, float]], population: np.ndarray
) -> list[list[int]]:
    """Partition 2019 wards into N_WARDS_2025 contiguous groups that never cross a district.

    Each district gets a share of the new wards proportional to its old ward count (largest
    remainder). Within a district the smallest group is repeatedly merged into the adjacent
    group that is smallest, preferring the longest common boundary: groups stay compact and
    similar in size, as the reform intended.
    """
    counts = np.bincount(district_of, minlength=N_DISTRICTS)
    quota = counts * N_WARDS_2025 / counts.sum()
    targets = np.maximum(np.floor(quota).astype(int), 1)
    for d in np.argsort(-(quota - np.floor(quota)), kind="stable")[: N_WARDS_2025 - targets.sum()]:
        targets[d] += 1

    groups: list[list[int]] = []
    for d in range(N_DISTRICTS):
        group_of = {w: w for w, dd in enumerate(district_of) if dd == d}
        members = {w: [w] for w in group_of}
        while len(members) > targets[d]:
            g = min(members, key=lambda k: (len(members[k]), int(population[members[k]].sum()), k))
            border: dict[int, float] = {}
            for w in members[g]:
                for nb, length in adjacency[w].items():
                    h = group_of.get(nb)
                    if h is not None and h != g:
                        border[h] = border.get(h, 0.0) + length
            h = min(border, key=lambda k: (len(members[k]), -border[k], k))
            for w in members.pop(g):
                group_of[w] = h
                members[h].append(w)
        groups.extend(sorted(m) for m in members.values())
    return groups


def _to_lonlat(geom: Polygon) -> MultiPolygon:
    """Map metric coordinates to EPSG:4326, rounded so shared vertices stay identical."""

    def project(xy: np.ndarray) -> np.ndarray:
        lon = CENTER_LON + xy[:, 0] / METRES_PER_DEGREE_LON
        lat = CENTER_LAT + xy[:, 1] / METRES_PER_DEGREE
        return np.round(np.column_stack([lon, lat]), _DECIMALS)

    return _as_multipolygon(shapely.transform(geom, project))


def _coverage_union(geoms: Iterable[MultiPolygon]) -> MultiPolygon:
    """Union of edge-matched polygons; it only drops shared edges, so nesting stays exact."""
    return _as_multipolygon(shapely.coverage_union_all(list(geoms)))


def _as_multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    raise TypeError(f"expected a polygonal geometry, got {geom.geom_type}")


def _name_pool(rng: np.random.Generator) -> list[str]:
    """All two-syllable names in a seeded order, so a prefix of it is a set of unique names."""
    pairs = [f"{a} {b}" for a in SYLLABLES for b in SYLLABLES if a != b]
    return [pairs[i] for i in rng.permutation(len(pairs))]


_ENGLISH_KIND = {"Quận": "District", "Huyện": "District", "Phường": "Ward", "Xã": "Commune"}
_LEVEL = {"Quận": "district", "Huyện": "district", "Phường": "ward", "Xã": "ward"}


def _area(
    *, code: str, kind: str, base: str, parent_code: str, geometry: MultiPolygon, population: int
) -> DemoArea:
    return DemoArea(
        code=code,
        name=f"{kind} {base}",
        name_en=f"{ascii_name(base)} {_ENGLISH_KIND[kind]}",
        level=_LEVEL[kind],
        parent_code=parent_code,
        geometry=geometry,
        population=population,
    )
