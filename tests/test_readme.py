"""The README's GraphQL examples run, and return data, on the demo city.

Every fenced ```graphql block of README.md is sent as it stands, anonymously, to the test
suite's demo (a smaller city of the same generator than `make run` loads). An answer with
errors, a top-level field that is null, or an empty list anywhere means the README has drifted
from the API or from the demo data. Templates that need a token or a complaint id are fenced
as plain text, not as ``graphql``.

The examples run on a demo database of their own: they submit complaints (a polygon's among
them), which the other modules' tests of the shared demo do not expect, and ``make test`` runs
modules in parallel, in no fixed order.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_support import scratch_database
from tests.conftest import GraphQLClient, seed_demo

README = Path(__file__).parent.parent / "README.md"
EXAMPLE = re.compile(r"^```graphql\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[str]:
    return EXAMPLE.findall(README.read_text(encoding="utf-8"))


def empty_lists(value: Any, path: str = "data") -> list[str]:
    """The paths of the empty lists in a JSON value."""
    if isinstance(value, list):
        if not value:
            return [path]
        items = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        items = [(f"{path}.{key}", item) for key, item in value.items()]
    else:
        return []
    return [found for where, item in items for found in empty_lists(item, where)]


def test_empty_lists_finds_nested_empty_lists() -> None:
    assert empty_lists({"a": [{"b": []}, {"b": [1]}], "c": {"d": []}, "e": None}) == [
        "data.a[0].b", "data.c.d"]
    assert empty_lists({"a": [1], "b": 0, "c": None}) == []


@pytest.fixture(scope="module")
def readme_gql() -> Iterator[GraphQLClient]:
    """Anonymous GraphQL on a fresh demo database."""
    with scratch_database() as (engine, gql):
        seed_demo(engine)
        yield gql


def test_the_readme_has_its_examples() -> None:
    """The headline examples: a lookup, areas, a complaint search, a submission, analytics."""
    found = examples()
    assert len(found) >= 5
    for field in ("jurisdiction(", "areas(", "complaints(", "submitComplaint(", "areaStats(",
                  "hotspots(", "stats("):
        assert any(field in example for example in found), field


@pytest.mark.parametrize("example", examples(),
                         ids=lambda text: re.sub(r"\W+", " ", text)[:40].strip())
def test_readme_example_returns_data(readme_gql: GraphQLClient, example: str) -> None:
    body = readme_gql(example)
    assert "errors" not in body, body["errors"]
    assert body["data"], body
    assert [name for name, value in body["data"].items() if value is None] == []
    assert empty_lists(body["data"]) == []
