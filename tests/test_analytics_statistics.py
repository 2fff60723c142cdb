"""The statistics of the hotspot analysis against PySAL, SciPy and the published definitions.

These check the arithmetic on its own (Gi* from neighbour sums, p-values, FDR, Mann–Kendall,
empirical Bayes, the emerging hot spot rules); tests/test_analytics_hotspots.py checks the
whole pipeline, SQL neighbour sums included, on data in PostGIS.
"""

import esda
import libpysal
import numpy as np
import pytest
from esda.smoothing import Empirical_Bayes
from scipy import stats

from analytics.areas import empirical_bayes
from analytics.statistics import (
    CONFIDENCE_LEVELS,
    confidence_bins,
    fdr_cutoff,
    gi_star,
    gi_star_z,
    two_sided_p,
)
from analytics.trend import Pattern, Trend, classify, mann_kendall

GOLDEN_POINTS = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
GOLDEN_Y = [2, 3, 3.2, 5, 8, 7]
GOLDEN_Z = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331]


def neighbour_sums(w: libpysal.weights.W, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_j w_ij y_j and Σ_j w_ij with the unit itself included (binary weights + diagonal)."""
    matrix = w.sparse.toarray() + np.eye(w.n)
    return matrix @ y, matrix.sum(axis=1)


def test_gi_star_reproduces_esdas_golden_vector() -> None:
    w = libpysal.weights.DistanceBand(GOLDEN_POINTS, threshold=15)
    y = np.array(GOLDEN_Y, dtype=float)
    lag, cardinality = neighbour_sums(w, y)
    z = gi_star_z(y, lag, cardinality)
    assert np.allclose(z, GOLDEN_Z, atol=1e-8)
    reference = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    assert np.max(np.abs(np.array(z) - reference.Zs)) < 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gi_star_equals_esda_on_random_points(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 1_000, size=(300, 2))
    y = rng.poisson(rng.uniform(0.5, 8, 300)).astype(float)
    for w in (libpysal.weights.DistanceBand(points, threshold=120, silence_warnings=True),
              libpysal.weights.KNN(points, k=7)):
        lag, cardinality = neighbour_sums(w, y)
        reference = esda.G_Local(y, w, transform="B", star=True, permutations=0)
        results = gi_star(y, lag, cardinality)
        assert np.max(np.abs(np.array([r.z for r in results]) - reference.Zs)) < 1e-9
        # esda's p_norm is one-sided; ours is two-sided.
        assert np.allclose([r.p for r in results], 2 * reference.p_norm, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(("z", "expected"), [
    (3.0, 3), (2.6, 3), (2.0, 2), (1.7, 1), (1.6, 0), (0.0, 0), (-1.7, -1), (-2.0, -2), (-2.7, -3),
])
def test_bins_follow_arcgis_confidence_levels(z: float, expected: int) -> None:
    # 99 % needs |z| > 2.576, 95 % |z| > 1.960, 90 % |z| > 1.645 (two-sided).
    assert confidence_bins([z], [two_sided_p(z)], list(CONFIDENCE_LEVELS)) == [expected]


def test_bins_of_many_units_at_once_are_each_unit_s_own() -> None:
    """Undefined z-scores (None) get 0, and FDR-like cut-offs that are not the levels'
    alphas bin each unit as it would alone."""
    rng = np.random.default_rng(7)
    zs: list[float | None] = [*map(float, rng.normal(0, 2.5, 400)), None, 0.0, None]
    ps = [None if z is None else two_sided_p(z) for z in zs]
    cutoffs = [(3, 0.004), (2, 0.03), (1, 0.07)]
    expected = []
    for z, p in zip(zs, ps, strict=True):
        met = [level for level, cutoff in cutoffs if p is not None and p < cutoff]
        expected.append(0 if z is None or not met else (met[0] if z > 0 else -met[0]))
    assert confidence_bins(zs, ps, cutoffs) == expected
    assert {abs(b) for b in expected} == {0, 1, 2, 3}


def test_two_sided_p_is_the_normal_tail() -> None:
    for z in (0.0, 0.5, 1.645, 1.96, 2.576, 4.0, -3.1):
        assert two_sided_p(z) == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_fdr_cutoff_equals_esda(alpha: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        # A mix of nulls (uniform p) and real effects (tiny p), and the all-null case.
        p = np.concatenate([rng.uniform(size=rng.integers(5, 200)),
                            rng.uniform(0, 0.002, size=rng.integers(0, 20))])
        assert fdr_cutoff(p, alpha) == pytest.approx(esda.fdr(p, alpha), rel=1e-12)


def test_fdr_makes_bins_stricter() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(3, 400).astype(float)
    y[:10] += 12  # a few strong units
    points = rng.uniform(0, 1_000, size=(400, 2))
    w = libpysal.weights.DistanceBand(points, threshold=80, silence_warnings=True)
    lag, cardinality = neighbour_sums(w, y)
    plain, corrected = gi_star(y, lag, cardinality), gi_star(y, lag, cardinality, fdr=True)
    p = np.array([g.p for g in plain])
    cutoff = esda.fdr(p, 0.05)
    for a, b in zip(plain, corrected, strict=True):
        assert abs(b.bin) <= abs(a.bin)
        assert (abs(b.bin) >= 2) == (b.p < cutoff)


def test_gi_star_is_undefined_when_all_values_are_equal() -> None:
    results = gi_star([4.0] * 5, [8.0] * 5, [2] * 5)
    assert all(r.z is None and r.bin == 0 for r in results)


def test_mann_kendall_matches_scipy_kendall_tau() -> None:
    rng = np.random.default_rng(5)
    for n in (5, 12, 30):
        for trend in (0.0, 0.3, -0.5):
            series = np.round(np.arange(n) * trend + rng.normal(0, 1, n), 1)  # ties on purpose
            result = mann_kendall(series.tolist())
            expected_s = sum(np.sign(series[j] - series[i])
                             for i in range(n) for j in range(i + 1, n))
            assert result.s == expected_s
            tau = stats.kendalltau(np.arange(n), series, method="asymptotic")
            if result.s == 0:
                assert result.p == 1.0
                continue
            # SciPy's asymptotic z has no continuity correction: z = S / sqrt(Var S).
            z_scipy = np.sign(tau.statistic) * stats.norm.isf(tau.pvalue / 2)
            variance = (result.s / z_scipy) ** 2
            assert result.variance == pytest.approx(variance, rel=1e-9)
            assert result.z == pytest.approx((result.s - np.sign(result.s))
                                             / np.sqrt(variance), rel=1e-9)
            assert result.p == pytest.approx(2 * stats.norm.sf(abs(result.z)), rel=1e-9)


NO_TREND = Trend(0, 1.0, 0.0, 1.0)
UP = Trend(20, 10.0, 3.0, 0.003)
DOWN = Trend(-20, 10.0, -3.0, 0.003)
H, C, N = 1, -1, 0


@pytest.mark.parametrize(("bins", "trend", "pattern"), [
    ([N] * 9 + [H], NO_TREND, Pattern.NEW_HOT_SPOT),
    ([N] * 7 + [H, H, H], UP, Pattern.CONSECUTIVE_HOT_SPOT),
    ([H] * 10, UP, Pattern.INTENSIFYING_HOT_SPOT),
    ([H] * 10, NO_TREND, Pattern.PERSISTENT_HOT_SPOT),
    ([H] * 10, DOWN, Pattern.DIMINISHING_HOT_SPOT),
    ([N] + [H] * 9, NO_TREND, Pattern.PERSISTENT_HOT_SPOT),  # 90 % is enough
    ([H, N, H, N, N, H, N, N, H, H], NO_TREND, Pattern.SPORADIC_HOT_SPOT),
    ([C, N, N, H, N, N, N, N, N, H], NO_TREND, Pattern.OSCILLATING_HOT_SPOT),
    ([H] * 9 + [N], NO_TREND, Pattern.HISTORICAL_HOT_SPOT),
    ([N] * 9 + [C], NO_TREND, Pattern.NEW_COLD_SPOT),
    ([C] * 10, DOWN, Pattern.INTENSIFYING_COLD_SPOT),
    ([C] * 10, UP, Pattern.DIMINISHING_COLD_SPOT),
    ([H, N, N, C, N, N, N, N, C, C], NO_TREND, Pattern.OSCILLATING_COLD_SPOT),
    ([C] * 9 + [N], NO_TREND, Pattern.HISTORICAL_COLD_SPOT),
    ([H, H, N, N, N, N, N, N, N, N], NO_TREND, Pattern.NO_PATTERN),
    ([N] * 10, UP, Pattern.NO_PATTERN),
])
def test_emerging_patterns_follow_the_arcgis_definitions(bins: list[int], trend: Trend,
                                                         pattern: Pattern) -> None:
    assert classify(bins, trend, alpha=0.05) == pattern


def test_empirical_bayes_equals_esda() -> None:
    rng = np.random.default_rng(11)
    population = rng.integers(500, 60_000, 80)
    counts = rng.poisson(population * rng.gamma(4, 0.0005, 80))
    ours = empirical_bayes(counts.tolist(), population.tolist())
    assert np.allclose(ours, Empirical_Bayes(counts, population).r.ravel(), rtol=1e-12)
    # Small areas move more towards the overall rate than large ones.
    overall = counts.sum() / population.sum()
    shrink = np.abs(np.array(ours) - overall) / np.abs(counts / population - overall)
    assert np.corrcoef(shrink, population)[0, 1] > 0


def test_empirical_bayes_without_extra_variance_is_the_overall_rate() -> None:
    # Identical rates: the observed spread is all Poisson noise, so every area gets the mean.
    assert empirical_bayes([10, 20, 40], [1_000, 2_000, 4_000]) == pytest.approx([0.01] * 3)
