"""Statements marked ``prepared`` (db/prepared.py): planned once per connection, executed by
name, with the same answers as the plain statement, and still answering after a failure."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, Integer, String, bindparam, column, select, table, text
from sqlalchemy.exc import OperationalError

from db import prepared as prepared_module
from db.engine import service_engine
from db.prepared import prepared
from settings import Settings

NAMES = table("prepared_probe", column("id", Integer), column("name", String(3)))
BY_NAMES = prepared(select(NAMES.c.id).where(NAMES.c.name.in_(bindparam("names", expanding=True)))
                    .order_by(NAMES.c.id))
SLOW = prepared(text("SELECT pg_sleep(CAST(:seconds AS float8)), :tag AS tag"))


@pytest.fixture(scope="module")
def service(settings: Settings, engine: Engine) -> Iterator[Engine]:
    """A service engine with one pooled connection, so that every call meets the same one."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS prepared_probe (id int, name varchar(3))"))
        conn.execute(text("TRUNCATE prepared_probe"))
        conn.execute(text("INSERT INTO prepared_probe VALUES (1, 'a'), (2, 'b'), (3, 'abc')"))
    one = service_engine(settings.model_copy(update={"db_pool_size": 1}))
    yield one
    one.dispose()


def statements(conn: object) -> dict[str, tuple[str, int, int]]:
    """The connection's prepared statements: name → (text, generic plans, custom plans)."""
    rows = conn.execute(text(  # type: ignore[attr-defined]
        "SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements"))
    return {r.name: (r.statement, r.generic_plans, r.custom_plans) for r in rows}


def test_a_marked_statement_is_prepared_once_and_keeps_one_generic_plan(service: Engine) -> None:
    with service.connect() as conn:
        answers = [conn.execute(BY_NAMES, {"names": names}).scalars().all()
                   for names in (["a"], ["b"], ["a"], ["b"], ["a"], ["b"], ["a"])]
        mine = {name: s for name, s in statements(conn).items() if "prepared_probe" in s[0]}
    assert answers == [[1], [2], [1], [2], [1], [2], [1]]
    assert len(mine) == 1, mine  # one list length: one statement
    (statement, generic, custom), = mine.values()
    assert (generic, custom) == (7, 0)  # planned once, never again
    prepared_text = statement.split("; EXECUTE")[0]  # it came with its first EXECUTE
    assert "$1" in prepared_text and "'a'" not in prepared_text


def test_answers_equal_the_plain_statement_for_each_shape_of_in_list(service: Engine,
                                                                      engine: Engine) -> None:
    plain = BY_NAMES.execution_options(phananh_prepared=False)
    for names in (["a"], ["a", "b"], ["abc", "b", "zzzz"], ["nope"]):
        with service.connect() as conn, engine.connect() as other:
            assert conn.execute(BY_NAMES, {"names": names}).scalars().all() == \
                other.execute(plain, {"names": names}).scalars().all()
    # A longer value than the column's VARCHAR(3) is compared whole, never cut to 'abc'.
    with service.connect() as conn:
        assert conn.execute(BY_NAMES, {"names": ["abcd"]}).scalars().all() == []


def test_a_statement_that_failed_leaves_the_connection_answering(service: Engine) -> None:
    """A statement cancelled by its timeout was prepared or not: the next call must work."""
    with service.connect() as conn:
        conn.execute(text("SET statement_timeout = 200"))
        with pytest.raises(OperationalError):
            conn.execute(SLOW, {"seconds": 2, "tag": "first"})
        conn.rollback()
        conn.execute(text("SET statement_timeout = 0"))
        assert conn.execute(SLOW, {"seconds": 0, "tag": "again"}).one().tag == "again"
        assert conn.execute(SLOW, {"seconds": 0, "tag": "third"}).one().tag == "third"


def test_a_connection_keeps_a_bounded_number_of_statements(service: Engine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared_module, "MAX_PER_CONNECTION", 3)
    with service.connect() as conn:
        for n in range(1, 8):  # each a statement of its own text
            query = prepared(text(f"SELECT {n} AS n, CAST(:x AS int) AS x"))
            assert tuple(conn.execute(query, {"x": n}).one()) == (n, n)
        kept = [s for s, *_ in statements(conn).values() if "AS n" in s]
    assert 1 <= len(kept) <= 3
