"""Deterministic synthetic citizen complaints for the demo city.

The analytics (hotspots, emerging trends, SLA and satisfaction statistics) only show something
if the data has structure, so the generator plants it on purpose: about 60 % of complaints come
from ~10 Gaussian hotspots, each tied to a few categories and some of them growing over the
time window (a year unless asked for more); complaints peak on weekday office hours (Hanoi
time); and the processing outcome mirrors Hanoi's published figures (84.3 % processed; 7,194
of 17,083 rated; 55 % of ratings positive). Those three shares are hit exactly (up to
rounding) by picking exact counts, not by coin flips, so the demo tells the same story at any
size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from demo.city import SYLLABLES, ascii_name
from demo.duplicates import plant_duplicates
from demo.texts import varied_texts
from workflow.states import PROCESSED, Rating, Status

CATEGORY_CODES: tuple[str, ...] = (
    "planning.violation",
    "construction.illegal",
    "construction.disturbance",
    "environment.waste",
    "environment.pollution",
    "environment.flooding",
    "traffic.road_damage",
    "traffic.signals",
    "traffic.encroachment",
    "land.dispute",
    "public.lighting",
    "public.water",
    "public.trees",
    "public.order",
    "other",
)

SLA_HOURS: dict[str, int] = {
    "planning.violation": 120,
    "construction.illegal": 72,
    "construction.disturbance": 48,
    "environment.waste": 24,
    "environment.pollution": 48,
    "environment.flooding": 24,
    "traffic.road_damage": 72,
    "traffic.signals": 24,
    "traffic.encroachment": 48,
    "land.dispute": 240,
    "public.lighting": 48,
    "public.water": 24,
    "public.trees": 72,
    "public.order": 24,
    "other": 120,
}

# The generated columns hold indices into these (workflow/states.py's own lists).
STATUSES = tuple(Status)
RATINGS = tuple(Rating)
CHANNELS = ("app", "web", "hotline", "zalo", "email")

PROCESSED_SHARE = 0.843
RATED_SHARE = 7_194 / 17_083
POSITIVE_RATING_SHARE = 0.55
LATE_SHARE = 0.15
HOTSPOT_SHARE = 0.6
LOCAL_TZ = timezone(timedelta(hours=7), "ICT")
YEAR = timedelta(days=365)

_METRES_PER_DEGREE = 111_320.0
_DAY = 86_400
_HOUR = 3_600
_WEEK = 7 * _DAY

_CHANNEL_WEIGHTS = (0.35, 0.2, 0.25, 0.15, 0.05)
# How processed complaints ended; a processed status missing here stops the generator.
_PROCESSED_STATUS_SHARES = {
    Status.RESOLVED: 0.62, Status.REJECTED: 0.09, Status.DUPLICATE: 0.07, Status.CLOSED: 0.22,
}
# Monday..Sunday: offices and most reporters are busy on weekdays.
_WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.55, 0.4])
_HOUR_WEIGHTS = np.array(
    [0.1, 0.06, 0.04, 0.04, 0.06, 0.2, 0.6, 1.2, 2.0, 2.3, 2.2, 1.8,
     1.0, 1.3, 2.0, 2.1, 1.9, 1.4, 1.0, 1.0, 0.9, 0.7, 0.4, 0.2]
)  # fmt: skip
_BACKGROUND_WEIGHTS = np.array([6, 10, 8, 14, 8, 4, 9, 3, 9, 5, 6, 5, 4, 7, 2], dtype=float)

# Each hotspot tells one local story through one to three categories.
_HOTSPOT_THEMES: tuple[tuple[str, ...], ...] = (
    ("construction.illegal", "planning.violation"),
    ("environment.flooding", "traffic.road_damage"),
    ("environment.waste",),
    ("traffic.encroachment", "public.order"),
    ("construction.disturbance", "environment.pollution"),
    ("public.lighting", "traffic.signals", "public.order"),
    ("land.dispute", "planning.violation"),
    ("public.water",),
    ("environment.pollution", "environment.waste"),
    ("traffic.road_damage", "public.trees", "public.lighting"),
)
_HOTSPOT_THEME_SHARE = 0.85

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "planning.violation": (
        "Công trình tại {place} xây vượt số tầng được cấp phép",
        "Nhà dân tại {place} xây lấn ra ngoài chỉ giới quy hoạch",
        "Phát hiện công trình sai quy hoạch tại {place}",
        "Tự ý chuyển mục đích sử dụng đất nông nghiệp để xây nhà tại {place}",
    ),
    "construction.illegal": (
        "Công trình không phép đang thi công tại {place}",
        "Xây dựng trái phép trên đất công tại {place}",
        "Nhà tại {place} đang cơi nới thêm tầng khi chưa có giấy phép",
        "Dựng lều quán trái phép tại {place}",
    ),
    "construction.disturbance": (
        "Công trường tại {place} thi công gây ồn vào ban đêm",
        "Xe chở vật liệu làm rơi vãi đất cát trên {place}",
        "Công trình tại {place} không che chắn, bụi bay sang nhà dân",
        "Thi công làm nứt tường các nhà liền kề tại {place}",
    ),
    "environment.waste": (
        "Rác thải tập kết bừa bãi tại {place}, bốc mùi hôi thối",
        "Rác không được thu gom nhiều ngày tại {place}",
        "Đổ trộm phế thải xây dựng tại {place}",
        "Điểm tập kết rác tại {place} tràn ra lòng đường",
    ),
    "environment.pollution": (
        "Khói bụi từ xưởng sản xuất tại {place} gây ô nhiễm",
        "Cơ sở kinh doanh tại {place} xả nước thải chưa qua xử lý ra cống",
        "Tiếng ồn từ quán karaoke tại {place} kéo dài đến khuya",
        "Mương thoát nước tại {place} bốc mùi hôi nồng nặc",
    ),
    "environment.flooding": (
        "Mưa lớn gây ngập sâu tại {place}",
        "Cống thoát nước tại {place} bị tắc, nước tràn lên mặt đường",
        "Nước tràn vào nhà dân tại {place} sau mỗi trận mưa",
        "Hố ga tại {place} bị mất nắp, nước đọng lâu ngày",
    ),
    "traffic.road_damage": (
        "Mặt đường tại {place} xuất hiện nhiều ổ gà",
        "Đường tại {place} bị sụt lún, nguy hiểm cho người đi xe máy",
        "Vỉa hè tại {place} bị bong tróc, vỡ gạch",
        "Nắp hố ga tại {place} bị vỡ, lồi lõm trên mặt đường",
    ),
    "traffic.signals": (
        "Đèn tín hiệu giao thông tại {place} không hoạt động",
        "Biển báo giao thông tại {place} bị che khuất, đổ nghiêng",
        "Đèn tín hiệu tại {place} có thời gian chờ bất hợp lý, gây ùn tắc",
        "Vạch kẻ đường tại {place} bị mờ, không nhìn rõ",
    ),
    "traffic.encroachment": (
        "Hàng quán lấn chiếm vỉa hè tại {place}, người đi bộ phải xuống lòng đường",
        "Ô tô đỗ trái phép kín hai bên {place}",
        "Trông giữ xe trái phép trên vỉa hè tại {place}",
        "Chợ cóc họp trên lòng đường tại {place} gây ùn tắc",
    ),
    "land.dispute": (
        "Tranh chấp ranh giới đất giữa các hộ dân tại {place}",
        "Đề nghị xem xét việc cấp giấy chứng nhận quyền sử dụng đất tại {place}",
        "Hộ dân lấn chiếm đất công tại {place}",
        "Khiếu nại về bồi thường giải phóng mặt bằng tại {place}",
    ),
    "public.lighting": (
        "Đèn chiếu sáng công cộng tại {place} hỏng nhiều ngày",
        "Cả tuyến {place} không có đèn chiếu sáng vào ban đêm",
        "Cột đèn tại {place} bị nghiêng, có nguy cơ đổ",
        "Đèn đường tại {place} bật sáng cả ban ngày, gây lãng phí",
    ),
    "public.water": (
        "Mất nước sinh hoạt kéo dài tại {place}",
        "Nước máy tại {place} có màu vàng và mùi lạ",
        "Đường ống cấp nước tại {place} bị vỡ, nước chảy lênh láng",
        "Áp lực nước yếu tại {place}, các tầng trên không có nước",
    ),
    "public.trees": (
        "Cây xanh tại {place} có nguy cơ gãy đổ",
        "Cành cây tại {place} vướng vào đường dây điện",
        "Cây xanh trên vỉa hè tại {place} bị chặt hạ trái phép",
        "Cây đổ chắn ngang đường tại {place} sau mưa bão",
    ),
    "public.order": (
        "Tụ tập gây mất trật tự vào ban đêm tại {place}",
        "Nhóm thanh niên đua xe gây mất an toàn tại {place}",
        "Bán hàng rong chèo kéo khách tại {place}",
        "Thường xuyên có người say rượu gây gổ tại {place}",
    ),
    "other": (
        "Đề nghị bổ sung thùng rác công cộng tại {place}",
        "Kiến nghị lắp đặt camera an ninh tại {place}",
        "Đề nghị xây dựng sân chơi cho trẻ em tại {place}",
        "Biển quảng cáo tại {place} có nguy cơ rơi xuống đường",
    ),
}
_SUFFIXES = (
    ".",
    ".",
    ". Đề nghị cơ quan chức năng kiểm tra, xử lý.",
    ". Tình trạng này đã kéo dài nhiều ngày.",
    ". Người dân rất bức xúc.",
    ". Đề nghị xử lý sớm.",
    ". Đã phản ánh nhiều lần nhưng chưa được giải quyết.",
    ", ảnh hưởng đến sinh hoạt của người dân.",
)

_SURNAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Lý",
)  # fmt: skip
_SURNAME_WEIGHTS = np.array([38, 11, 9.5, 7, 5, 4.5, 4, 2, 2, 1.5, 1.3, 1.3, 1, 0.5])
_MIDDLE = (
    ("Văn", "Đức", "Minh", "Quang", "Hữu", "Thanh", "Tiến"),
    ("Thị", "Thu", "Ngọc", "Thanh", "Minh", "Phương", "Kim"),
)
_GIVEN = (
    ("An", "Bình", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Nam", "Phong", "Quân", "Sơn",
     "Thắng", "Tuấn", "Việt"),
    ("Anh", "Chi", "Hà", "Hằng", "Hương", "Lan", "Linh", "Mai", "Nga", "Ngọc", "Phương",
     "Thảo", "Trang", "Vy"),
)  # fmt: skip
_PHONE_PREFIXES = ("09", "03", "08", "07", "05")
_N_STREETS = 150
_STREETS_PER_HOTSPOT = 3
_BASE32 = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
_ID_BITS = 50
_ID_MASK = np.uint64((1 << _ID_BITS) - 1)


@dataclass(frozen=True)
class DemoComplaint:
    """One synthetic complaint with its whole processing history up to `now`."""

    public_id: str
    category_code: str
    description: str
    lon: float
    lat: float
    address: str
    channel: str
    created_at: datetime
    status: str
    first_action_at: datetime | None
    resolved_at: datetime | None
    rating: str | None
    rated_at: datetime | None
    reporter_name: str
    reporter_phone: str
    reporter_email: str
    corrected_from: str | None = None  # the category the citizen chose, corrected by an official
    duplicate_of: str | None = None  # the original's public id, for a complaint marked DUPLICATE


@dataclass(frozen=True)
class _Hotspot:
    """A cluster centre; `trend` is the exponent of its growth over the window (>0 intensifying,
    <0 fading, ~0 steady) and `category_weights` the category mix of its complaints."""

    lon: float
    lat: float
    sigma_m: float
    category_weights: np.ndarray
    trend: float


def generate_complaints(
    n: int, outline: BaseGeometry, *, seed: int = 17, now: datetime, years: int = 1
) -> Iterator[DemoComplaint]:
    """Yield `n` complaints inside `outline` (lon/lat), oldest first, received in the `years`
    × 365 days before `now`.

    The output is a pure function of (n, outline, seed, now, years). `now` must be
    timezone-aware so that weekday and office-hour patterns land on Hanoi local time.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if years < 1:
        raise ValueError("years must be at least 1")
    if n <= 0:
        return
    rng = np.random.default_rng(seed)
    shapely.prepare(outline)
    hotspots = _hotspots(rng, outline)

    n_hot = round(HOTSPOT_SHARE * n)
    per_hotspot = rng.multinomial(n_hot, rng.dirichlet(np.full(len(hotspots), 2.0)))
    source = np.concatenate(
        [np.repeat(np.arange(len(hotspots)), per_hotspot), np.full(n - n_hot, -1)]
    )

    lon = np.empty(n)
    lat = np.empty(n)
    category = np.empty(n, dtype=np.int64)
    now_s = math.floor(now.timestamp())
    created = np.empty(n, dtype=np.int64)
    for h in range(-1, len(hotspots)):
        rows = np.flatnonzero(source == h)
        if h < 0:
            lon[rows], lat[rows] = _uniform_points(rng, outline, len(rows))
            weights = _BACKGROUND_WEIGHTS / _BACKGROUND_WEIGHTS.sum()
            trend = 0.0
        else:
            spot = hotspots[h]
            lon[rows], lat[rows] = _gaussian_points(
                rng, outline, spot.lon, spot.lat, spot.sigma_m, len(rows)
            )
            weights, trend = spot.category_weights, spot.trend
        category[rows] = rng.choice(len(CATEGORY_CODES), size=len(rows), p=weights)
        created[rows] = _timestamps(rng, len(rows), now, now_s, years * YEAR, trend)

    order = np.argsort(created, kind="stable")
    lon, lat, category, created, source = (
        lon[order],
        lat[order],
        category[order],
        created[order],
        source[order],
    )
    history = _history(rng, category, created, now_s)
    original = plant_duplicates(np.random.default_rng([seed, 13]), outline, lon, lat, category,
                                created, history.status == _code(Status.DUPLICATE),
                                history.first_action < 0)
    # Texts have their own random stream: varying them leaves every other column as it was.
    text_rng = np.random.default_rng([seed, 12])
    yield from _assemble(rng, text_rng, lon, lat, category, created, source, history,
                         len(hotspots), original)


def _hotspots(rng: np.random.Generator, outline: BaseGeometry) -> list[_Hotspot]:
    """One hotspot per theme, placed mostly towards the middle of the city where people live."""
    centre = outline.centroid if outline.contains(outline.centroid) else outline.point_on_surface()
    scale_m = math.sqrt(_area_m2(outline))
    trends = rng.permutation([2.5, 2.0, 1.5, 1.2, -1.2, -0.8, 0.0, 0.0, 0.0, 0.0])
    hotspots = []
    for theme, trend in zip(_HOTSPOT_THEMES, trends, strict=True):
        lon, lat = _gaussian_points(rng, outline, centre.x, centre.y, 0.25 * scale_m, 1)
        weights = _BACKGROUND_WEIGHTS / _BACKGROUND_WEIGHTS.sum() * (1 - _HOTSPOT_THEME_SHARE)
        theme_idx = [CATEGORY_CODES.index(c) for c in theme]
        weights[theme_idx] += _HOTSPOT_THEME_SHARE * rng.dirichlet(np.full(len(theme), 4.0))
        sigma = math.exp(rng.uniform(math.log(300.0), math.log(2_000.0)))
        hotspots.append(
            _Hotspot(
                lon=float(lon[0]),
                lat=float(lat[0]),
                sigma_m=min(sigma, 0.1 * scale_m),
                category_weights=weights,
                trend=float(trend + rng.normal(0.0, 0.1)),
            )
        )
    return hotspots


def _area_m2(geom: BaseGeometry) -> float:
    """Approximate area in m²: degrees are not metres, longitude shrinks with cos(latitude)."""
    cos_lat = math.cos(math.radians(geom.centroid.y))
    return float(shapely.area(geom)) * _METRES_PER_DEGREE**2 * cos_lat


def _uniform_points(
    rng: np.random.Generator, outline: BaseGeometry, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform over the outline by rejection from its bounding box."""
    minx, miny, maxx, maxy = outline.bounds

    def draw(size: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.uniform(minx, maxx, size), rng.uniform(miny, maxy, size)

    return _rejection_sample(outline, draw, count)


def _gaussian_points(
    rng: np.random.Generator,
    outline: BaseGeometry,
    lon: float,
    lat: float,
    sigma_m: float,
    count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian in metres around (lon, lat), kept where it falls inside the outline."""
    m_per_deg_lon = _METRES_PER_DEGREE * math.cos(math.radians(lat))

    def draw(size: int) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = rng.normal(0.0, sigma_m, size=(2, size))
        return lon + dx / m_per_deg_lon, lat + dy / _METRES_PER_DEGREE

    return _rejection_sample(outline, draw, count)


def _rejection_sample(
    outline: BaseGeometry,
    draw: Callable[[int], tuple[np.ndarray, np.ndarray]],
    count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw in vectorised batches until `count` points lie inside the outline.

    Coordinates are rounded to 7 decimals (~1 cm) *before* the test, so a stored point is
    never pushed across the boundary by the rounding.
    """
    xs: list[np.ndarray] = [np.empty(0)]  # a hotspot may get no complaint at all
    ys: list[np.ndarray] = [np.empty(0)]
    found = 0
    while found < count:
        x, y = draw(2 * (count - found) + 16)
        x, y = np.round(x, 7), np.round(y, 7)
        inside = shapely.contains_xy(outline, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        found += int(inside.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _timestamps(
    rng: np.random.Generator, count: int, now: datetime, now_s: int, window: timedelta,
    trend: float,
) -> np.ndarray:
    """Epoch seconds in the `window` before `now`: weekday/office-hour rhythm in Hanoi time,
    trend.

    Days are local calendar days; a draw that falls outside the window is moved by one week,
    which keeps its weekday and hour, so the rhythm is not distorted at the window's edges.
    """
    start_s = now_s - int(window.total_seconds())
    first_day = datetime.fromtimestamp(start_s, LOCAL_TZ).date()
    n_days = (now.astimezone(LOCAL_TZ).date() - first_day).days + 1
    midnight_s = int(datetime.combine(first_day, time(0), LOCAL_TZ).timestamp())
    weekday = (first_day.weekday() + np.arange(n_days)) % 7
    day_weights = _WEEKDAY_WEIGHTS[weekday] * np.exp(trend * np.arange(n_days) / n_days)
    day = rng.choice(n_days, size=count, p=day_weights / day_weights.sum())
    hour = rng.choice(24, size=count, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    seconds = midnight_s + day * _DAY + hour * _HOUR + rng.integers(0, _HOUR, count)
    seconds = np.where(seconds > now_s, seconds - _WEEK, seconds)
    return np.where(seconds < start_s, seconds + _WEEK, seconds)


@dataclass(frozen=True)
class _History:
    """Columns of processing outcomes: status and rating index STATUSES and RATINGS (rating -1
    when unrated); the others are epoch seconds, -1 where the event has not happened."""

    status: np.ndarray
    first_action: np.ndarray
    resolved: np.ndarray
    rating: np.ndarray
    rated: np.ndarray


def _history(
    rng: np.random.Generator, category: np.ndarray, created: np.ndarray, now_s: int
) -> _History:
    """Processing timelines with the published outcome shares hit exactly.

    Resolution takes a share of the category's SLA (15 % of cases overrun it); which
    complaints count as processed, rated and positively rated is chosen by weighted sampling
    of exact counts: old complaints are more likely closed, late or rejected ones more likely
    rated badly, but the totals are fixed.
    """
    n = len(created)
    sla = np.array([SLA_HOURS[c] for c in CATEGORY_CODES])[category] * _HOUR
    late = rng.random(n) < LATE_SHARE
    to_resolve = np.where(late, sla * (1.0 + rng.exponential(0.6, n)), sla * rng.beta(2.2, 2.0, n))
    to_resolve = np.maximum(to_resolve, 1_800.0)
    to_act = np.maximum(to_resolve * rng.uniform(0.05, 0.4, n), 900.0)
    age = now_s - created

    fits = created + to_resolve <= now_s
    processed = _pick(rng, round(PROCESSED_SHARE * n), 1.0 + age / (20 * _DAY), fits)
    # The few processed ones too young for their drawn durations are resolved faster.
    squeeze = np.where(processed & ~fits, age / to_resolve * rng.uniform(0.3, 1.0, n), 1.0)
    to_resolve = np.floor(to_resolve * squeeze).astype(np.int64)
    to_act = np.minimum(np.floor(to_act * squeeze).astype(np.int64), to_resolve)

    status = np.empty(n, dtype=np.int64)
    status[processed] = np.array([_code(s) for s in PROCESSED])[rng.choice(
        len(PROCESSED), size=int(processed.sum()),
        p=[_PROCESSED_STATUS_SHARES[s] for s in PROCESSED],
    )]
    # One in ten open complaints old enough to be picked up still waits in the inbox; none
    # is reopened.
    acted = ~processed & (created + to_act <= now_s) & (rng.random(n) < 0.9)
    status[acted] = np.where(rng.random(int(acted.sum())) < 0.6,
                             _code(Status.IN_PROGRESS), _code(Status.ASSIGNED))
    status[~processed & ~acted] = _code(Status.RECEIVED)
    first_action = np.where(processed | acted, created + to_act, -1)
    resolved = np.where(processed, created + to_resolve, -1)

    to_rate = np.floor(rng.exponential(30 * _HOUR, n)).astype(np.int64) + 600
    rate_fits = resolved + to_rate <= now_s
    rated = _pick(
        rng, min(round(RATED_SHARE * n), int(processed.sum())), processed, processed & rate_fits
    )
    rated_at = np.where(
        rate_fits, resolved + to_rate, resolved + rng.random(n) * (now_s - resolved)
    )
    rated_at = np.where(rated, np.floor(rated_at).astype(np.int64), -1)

    goodwill = np.where(late, 0.45, 1.0) * np.select(
        [status == _code(Status.REJECTED), status == _code(Status.DUPLICATE)], [0.35, 0.7], 1.0
    )
    positive = _pick(rng, round(POSITIVE_RATING_SHARE * int(rated.sum())), goodwill * rated, rated)
    accepted = rng.random(n) < 0.35  # of the positive ratings; the others are SATISFIED
    rating = np.where(positive, np.where(accepted, RATINGS.index(Rating.ACCEPTED),
                                         RATINGS.index(Rating.SATISFIED)),
                      RATINGS.index(Rating.UNSATISFIED))
    return _History(status, first_action, resolved, np.where(rated, rating, -1), rated_at)


def _code(status: Status) -> int:
    """The index of ``status`` in :data:`STATUSES`, as the status column holds it."""
    return STATUSES.index(status)


def _pick(
    rng: np.random.Generator, count: int, weight: np.ndarray | float, preferred: np.ndarray
) -> np.ndarray:
    """Boolean mask of exactly `count` items: weighted sampling without replacement
    (Efraimidis-Spirakis keys) among items of positive weight, `preferred` ones first."""
    weight = np.broadcast_to(np.asarray(weight, dtype=float), preferred.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        key = np.log(rng.random(preferred.size)) / weight
    eligible = weight > 0
    rank = np.lexsort((np.where(eligible, key, 0.0), preferred, eligible))[::-1]
    mask = np.zeros(preferred.size, dtype=bool)
    mask[rank[:count]] = True
    return mask


def _assemble(
    rng: np.random.Generator,
    text_rng: np.random.Generator,
    lon: np.ndarray,
    lat: np.ndarray,
    category: np.ndarray,
    created: np.ndarray,
    source: np.ndarray,
    history: _History,
    n_hotspots: int,
    original: np.ndarray,
) -> Iterator[DemoComplaint]:
    """Turn the numeric columns into complaints with addresses, texts and reporters; a
    planted duplicate rewords its ``original``'s text at the same address."""
    n = len(created)
    streets = _street_names(rng)
    hotspot_streets = rng.integers(0, _N_STREETS, size=(n_hotspots, _STREETS_PER_HOTSPOT))
    street = np.where(
        source >= 0,
        hotspot_streets[np.maximum(source, 0), rng.integers(0, _STREETS_PER_HOTSPOT, n)],
        rng.integers(0, _N_STREETS, n),
    )
    address_form = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    house = rng.integers(1, 200, n)
    lane = rng.integers(1, 300, n)
    template = rng.integers(0, 4, n)
    suffix = rng.integers(0, len(_SUFFIXES), n)
    channel = rng.choice(len(CHANNELS), size=n, p=_CHANNEL_WEIGHTS)
    surname = rng.choice(len(_SURNAMES), size=n, p=_SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum())
    female = rng.integers(0, 2, n)
    middle = rng.integers(0, 7, n)
    given = rng.integers(0, 14, n)
    phone_prefix = rng.integers(0, len(_PHONE_PREFIXES), n)
    phone = rng.integers(0, 100_000_000, n)
    email_no = rng.integers(1, 1_000, n)
    public_ids = _public_ids(rng, n)

    places = []
    addresses = []
    for i in range(n):
        street_name = streets[street[i]]
        if address_form[i] == 0:
            addresses.append(f"Số {house[i]} ngõ {lane[i]} {street_name}")
        elif address_form[i] == 1:
            addresses.append(f"Số {house[i]} {street_name}")
        else:
            addresses.append(f"Ngõ {lane[i]} {street_name}")
        places.append(street_name if address_form[i] == 1 else f"ngõ {lane[i]} {street_name}")
    for i in np.flatnonzero(original >= 0):
        o = original[i]
        template[i], addresses[i], places[i] = template[o], addresses[o], places[o]
    texts = varied_texts(text_rng, _TEMPLATES, CATEGORY_CODES,
                         category, template, places, [_SUFFIXES[s] for s in suffix])

    for i in range(n):
        code = CATEGORY_CODES[category[i]]
        filed_as = CATEGORY_CODES[texts[i].filed_as]
        acted = history.first_action[i] >= 0
        address = addresses[i]
        description = texts[i].description
        mid = _MIDDLE[female[i]][middle[i]]
        first = _GIVEN[female[i]][given[i]]
        surname_i = _SURNAMES[surname[i]]
        slug = ascii_name(f"{surname_i}.{mid}.{first}").lower()
        status = int(history.status[i])
        rating = int(history.rating[i])
        yield DemoComplaint(
            public_id=public_ids[i],
            # A misfiled complaint keeps the citizen's choice until an official acts on it.
            category_code=code if acted else filed_as,
            corrected_from=filed_as if acted and filed_as != code else None,
            description=description,
            lon=float(lon[i]),
            lat=float(lat[i]),
            address=address,
            channel=CHANNELS[channel[i]],
            created_at=_utc(int(created[i])),
            status=STATUSES[status].value,
            first_action_at=_utc_or_none(int(history.first_action[i])),
            resolved_at=_utc_or_none(int(history.resolved[i])),
            rating=RATINGS[rating].value if rating >= 0 else None,
            rated_at=_utc_or_none(int(history.rated[i])),
            reporter_name=f"{surname_i} {mid} {first}",
            reporter_phone=f"{_PHONE_PREFIXES[phone_prefix[i]]}{phone[i]:08d}",
            reporter_email=f"{slug}.{email_no[i]}@example.com",
            duplicate_of=(public_ids[original[i]]
                          if original[i] >= 0 and status == _code(Status.DUPLICATE) else None),
        )


def _street_names(rng: np.random.Generator) -> list[str]:
    """Distinct street names such as "phố Tân Bình" or "đường Long Hưng"."""
    pairs = [(a, b) for a in SYLLABLES for b in SYLLABLES if a != b]
    picks = rng.choice(len(pairs), size=_N_STREETS, replace=False)
    kinds = rng.choice(["phố", "đường"], size=_N_STREETS, p=[0.6, 0.4])
    return [f"{kind} {pairs[p][0]} {pairs[p][1]}" for kind, p in zip(kinds, picks, strict=True)]


def _public_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique, random-looking ids: a seeded bijection of 0..n-1 on 50 bits, in base32.

    Bijective steps (odd multiplication, xor-shift, offset, all modulo 2**50) guarantee
    uniqueness without a set of already used ids, and the ids do not reveal the order.
    """
    x = np.arange(n, dtype=np.uint64)
    x = x * np.uint64(0x2545F4914F6CDD1D) + rng.integers(0, 1 << _ID_BITS, dtype=np.uint64)
    x &= _ID_MASK
    for shift, multiplier in ((23, 0x9E3779B97F4A7C15), (19, 0xBF58476D1CE4E5B9)):
        x ^= x >> np.uint64(shift)
        x = (x * np.uint64(multiplier)) & _ID_MASK
    shifts = np.arange(_ID_BITS - 5, -1, -5, dtype=np.uint64)
    digits = ((x[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.intp)
    chars = np.ascontiguousarray(_BASE32[digits])
    return ["PA-" + s for s in chars.view(f"<U{len(shifts)}").ravel().tolist()]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _utc_or_none(seconds: int) -> datetime | None:
    return None if seconds < 0 else _EPOCH + timedelta(seconds=seconds)
