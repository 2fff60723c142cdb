"""The plans of the statements a piece of work runs: for tests of what PostgreSQL reads (which
partitions, which indexes), rather than of what the work answers."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event


def executed_plans(engine: Engine, run: Callable[[Any], None], keep: Callable[[str], bool],
                   analyze: bool = False) -> list[dict[str, Any]]:
    """The EXPLAIN (FORMAT JSON) plans of the statements ``run`` executes on a connection of
    ``engine`` (passed to it) that ``keep`` selects, explained on that connection (with
    ``analyze``, executed again: each node has its actual rows and loops)."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if keep(statement):
            statements.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(engine, "before_cursor_execute", capture)
        try:
            run(conn)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        explain = "EXPLAIN (ANALYZE, FORMAT JSON) " if analyze else "EXPLAIN (FORMAT JSON) "
        return [conn.exec_driver_sql(explain + statement, parameters).scalar_one()[0]["Plan"]
                for statement, parameters in statements]


def plan_scans(plan: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(node type, relation, index) of every scan in an EXPLAIN (FORMAT JSON) plan."""
    return [(node["Node Type"], node["Relation Name"], node.get("Index Name"))
            for node in scan_nodes(plan)]


def scan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan that scans a relation, as EXPLAIN gives
    it (its conditions included)."""
    found = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += scan_nodes(child)
    return found


def scan_index(node: dict[str, Any]) -> str | None:
    """The index a scan node reads: its own, or a bitmap heap scan's one bitmap index scan's."""
    bitmaps = [child.get("Index Name") for child in node.get("Plans", [])
               if child["Node Type"] == "Bitmap Index Scan"]
    return node.get("Index Name") or (bitmaps[0] if len(bitmaps) == 1 else None)


def scan_conditions(node: dict[str, Any]) -> str:
    """Every condition a scan node applies, as EXPLAIN writes them, joined by " AND ": its
    index condition, recheck and filter, and those of the bitmap index scans below it."""
    found = [node[name] for name in ("Index Cond", "Recheck Cond", "Filter") if name in node]
    for child in node.get("Plans", []):
        if child["Node Type"] in ("Bitmap Index Scan", "BitmapAnd", "BitmapOr"):
            found.append(scan_conditions(child))
    return " AND ".join(c for c in found if c)
