"""Full-text search over public descriptions: accents and case ignored, ranked, indexed.

The expected matches are computed here, independently of PostgreSQL: each description folded
with Python's own Unicode tables (NFD, combining marks dropped, đ → d, lower case) and split
into words; a complaint matches when it has every word of the query.
"""

import re
import unicodedata
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.conftest import Demo, GraphQLClient
from tests.test_errors import first_error

PAGE = """query($f: ComplaintFilter, $after: String, $o: ComplaintOrder) {
  complaints(filter: $f, first: 200, after: $after, orderBy: $o) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id description } } } }"""


def fold(value: str) -> list[str]:
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.findall(r"\w+", bare.lower())


@pytest.fixture(scope="module")
def descriptions(engine: Engine, demo: Demo) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT public_id, public_description FROM complaint")).all()
    return dict(rows)


def expected_ids(descriptions: dict[str, str], query: str) -> set[str]:
    words = set(fold(query))
    return {pid for pid, description in descriptions.items() if words <= set(fold(description))}


def search_all(gql: GraphQLClient, query: str, order: str | None = None) -> list[str]:
    """Every id the search returns, page after page."""
    ids: list[str] = []
    after = None
    while True:
        page = gql.data(PAGE, {"f": {"text": query}, "after": after, "o": order})["complaints"]
        ids += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(ids)
            return ids
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("query", ["nuoc tran len mat duong", "NUOC THAI", "nước thải", "ổ gà",
                                   "bốc mùi hôi", "cong thoat nuoc", "karaoke"])
def test_accent_and_case_insensitive_matches_python(gql: GraphQLClient,
                                                    descriptions: dict[str, str],
                                                    query: str) -> None:
    want = expected_ids(descriptions, query)
    got = search_all(gql, query)
    assert len(got) == len(set(got))
    assert set(got) == want
    assert want


def test_with_and_without_accents_find_the_same(gql: GraphQLClient, engine: Engine) -> None:
    with_accents = search_all(gql, "Mưa lớn gây ngập sâu")
    assert len(with_accents) > 5
    assert set(search_all(gql, "mua lon gay ngap sau")) == set(with_accents)
    # Decomposed input (as some keyboards send it) is the same text.
    assert set(search_all(gql, unicodedata.normalize("NFD", "MƯA LỚN gây ngập sâu"))) == \
        set(with_accents)


def test_ranked_best_match_first_and_paged_once(gql: GraphQLClient, engine: Engine,
                                                descriptions: dict[str, str]) -> None:
    ids = search_all(gql, "rác thải")  # default order with a text: RELEVANCE
    assert set(ids) == expected_ids(descriptions, "rác thải")
    with engine.connect() as conn:
        ranks = dict(conn.execute(text("""
            SELECT public_id, ts_rank_cd(search_vector,
                                         websearch_to_tsquery('simple', 'rac thai'))
            FROM complaint WHERE public_id = ANY(:ids)"""), {"ids": ids}).all())
    assert [ranks[i] for i in ids] == sorted(ranks.values(), reverse=True)
    assert len({ranks[i] for i in ids}) > 1  # the order is not trivial
    assert set(search_all(gql, "rác thải", "CREATED_AT")) == set(ids)


def test_search_phrases_or_and_exclusion(gql: GraphQLClient, descriptions: dict[str, str]
                                         ) -> None:
    either = set(search_all(gql, "karaoke or ổ gà"))
    assert either == expected_ids(descriptions, "karaoke") | expected_ids(descriptions, "ổ gà")
    without = set(search_all(gql, "nước -thải"))
    assert without == expected_ids(descriptions, "nước") - expected_ids(descriptions, "thải")


def test_search_uses_the_index(engine: Engine, demo: Demo) -> None:
    """The GIN index serves the filter (seq scans off: on the small demo a scan may be cheaper,
    but a plan through the index must exist)."""
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text("""
            EXPLAIN SELECT id FROM complaint
            WHERE search_vector @@ websearch_to_tsquery('simple', fold_text('ngập'))""")
                                      ).scalars())
    assert "complaint_search" in plan and "Seq Scan" not in plan


@pytest.mark.parametrize(("variables", "code"), [
    ({"f": {"text": "   "}}, "BAD_INPUT"),
    ({"f": {"text": "x" * 201}}, "BAD_INPUT"),
    ({"o": "RELEVANCE"}, "BAD_INPUT"),
    ({"f": {"text": "rác"}, "o": "RELEVANCE", "after": "WyJhIiwgMV0="}, "BAD_CURSOR"),
    ({"f": {"text": "rác"}, "o": "RELEVANCE", "after": "Wy0xLCAxXQ=="}, "BAD_CURSOR"),
])
def test_bad_searches_are_coded(gql: GraphQLClient, demo: Demo, variables: dict[str, Any],
                                code: str) -> None:
    assert first_error(gql, PAGE, variables)["extensions"]["code"] == code


def test_punctuation_only_finds_nothing(gql: GraphQLClient, demo: Demo) -> None:
    assert search_all(gql, "!!! ???") == []
