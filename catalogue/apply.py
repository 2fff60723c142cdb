"""Applying a catalogue: compare the document with the database, check every reference, then
write the differences, all in the caller's transaction.

* Idempotent: a second apply of the same document finds no difference and writes nothing.
* Never deletes: an entry of a section present in the document but missing from it is
  *retired* (``retired_at``); retired categories stay readable and keep their complaints, but
  take no new ones, and a retired agency or rule routes nothing. Listing it again revives it.
* All or nothing: every problem (shape, unknown group, agency, category, generation or area,
  retiring something still in use) is reported before the first write; one bad entry
  changes nothing. A category's attributes and an agency's areas are part of the entry and
  are replaced with it.
* A section absent from the document is left as it is.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from catalogue.model import Catalogue, Row, parse
from db.tables import (
    agency,
    agency_area,
    boundary_generation,
    category,
    category_attribute,
    category_group,
    holiday,
    routing_rule,
    work_calendar,
    working_period,
)
from errors import ErrorCode, PhananhError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    kind: str  # group, category, agency, rule or calendar
    code: str
    action: str  # create, update or retire
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "retire": "-"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        retired = " retired" if self.action == "retire" else ""
        return f"{sign} {self.kind} {self.code}{retired}{detail}"


# kind: (section, table, columns compared besides the code)
KINDS: dict[str, tuple[str, Table, tuple[str, ...]]] = {
    "group": ("groups", category_group, ("name_vi", "name_en")),
    "category": ("categories", category, ("domain", "name_vi", "name_en", "sla_hours",
                                          "sensitive", "description", "attributes")),
    "agency": ("agencies", agency, ("name_vi", "name_en", "kind", "phone", "email", "address",
                                    "serves")),
    "rule": ("rules", routing_rule, ("category_code", "group_code", "area_level", "area_code",
                                     "agency_code", "valid_from", "valid_to")),
}
ATTRIBUTE_COLUMNS = ("code", "datatype", "required", "position", "description", "private",
                     "values")


def apply_document(conn: Connection, document: Any, dry_run: bool = False,
                   on_progress: Progress = lambda step: None) -> list[Change]:
    """Apply a parsed catalogue document (or only compute its changes, with ``dry_run``);
    returns the changes, in the order written."""
    wanted = parse(document)
    _resolve_dates(conn, wanted)
    current = {kind: _current(conn, kind) for kind in KINDS}
    _check_references(conn, wanted, current)
    changes = [change for kind in KINDS for change in _diff(kind, wanted, current[kind])]
    calendar = _calendar_change(conn, wanted.calendar)
    if calendar:
        changes.append(calendar)
    if dry_run:
        return changes
    for change in changes:
        on_progress(str(change))
        _write(conn, change, wanted)
    return changes


def _wanted(kind: str, wanted: Catalogue) -> dict[str, Row] | None:
    return getattr(wanted, KINDS[kind][0])


def _current(conn: Connection, kind: str) -> dict[str, Row]:
    """The entries of ``kind`` in the database, in the document's shape, with ``retired``."""
    table = KINDS[kind][1]
    columns = [table.c[c] for c in KINDS[kind][2] if c in table.c]
    rows = {r.code: {**r._mapping, "retired": r.retired_at is not None}
            for r in conn.execute(select(table.c.code, table.c.retired_at, *columns))}
    if kind == "category":
        for row in rows.values():
            row["attributes"] = []
        attributes = conn.execute(select(category_attribute).order_by(
            category_attribute.c.position, category_attribute.c.code))
        for a in attributes:
            rows[a.category_code]["attributes"].append(
                {c: a._mapping[c] for c in ATTRIBUTE_COLUMNS})
    if kind == "agency":
        for row in rows.values():
            row["serves"] = []
        served = conn.execute(
            select(agency_area.c.agency_code, boundary_generation.c.name, agency_area.c.level,
                   agency_area.c.area_code)
            .join(boundary_generation, boundary_generation.c.id == agency_area.c.generation_id)
            .order_by(boundary_generation.c.name, agency_area.c.level, agency_area.c.area_code))
        for code, generation, level, area in served:
            rows[code]["serves"].append((generation, level, area))
    return rows


def _diff(kind: str, wanted: Catalogue, current: dict[str, Row]) -> list[Change]:
    rows = _wanted(kind, wanted)
    if rows is None:
        return []
    compared = KINDS[kind][2]
    changes = []
    for code, row in rows.items():
        now = current.get(code)
        if now is None:
            changes.append(Change(kind, code, "create"))
            continue
        fields = tuple(c for c in compared if row.get(c) != now.get(c))
        if now["retired"]:
            fields = ("revived", *fields)
        if fields:
            changes.append(Change(kind, code, "update", fields))
    changes += [Change(kind, code, "retire") for code, now in sorted(current.items())
                if code not in rows and not now["retired"]]
    return changes


def _resolve_dates(conn: Connection, wanted: Catalogue) -> None:
    """Rule dates given as days start at midnight in the city's time zone."""
    if not wanted.rules:
        return
    zone = (wanted.calendar or {}).get("time_zone") or conn.execute(
        select(work_calendar.c.time_zone)).scalar() or "UTC"
    for row in wanted.rules.values():
        for key in ("valid_from", "valid_to"):
            if isinstance(row[key], str):
                day = datetime.fromisoformat(row[key])
                row[key] = day.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
            elif row[key] is not None:
                row[key] = row[key].astimezone(UTC)


def _live(kind: str, wanted: Catalogue, current: dict[str, Row]) -> set[str]:
    """The codes of ``kind`` that will be in service after the apply."""
    rows = _wanted(kind, wanted)
    if rows is not None:
        return set(rows)
    return {code for code, row in current.items() if not row["retired"]}


def _check_references(conn: Connection, wanted: Catalogue,
                      current: dict[str, dict[str, Row]]) -> None:
    live = {kind: _live(kind, wanted, current[kind]) for kind in KINDS}
    problems: list[str] = []
    for code, row in (wanted.categories or {}).items():
        if row["domain"] not in live["group"]:
            problems.append(f"category {code}: no group {row['domain']!r}")
    in_use = {("group", row["domain"]) for row in _after("category", wanted, current).values()}
    for code, row in _after("rule", wanted, current).items():
        for kind, key in (("category", "category_code"), ("group", "group_code"),
                          ("agency", "agency_code")):
            if row[key] is not None and row[key] not in live[kind]:
                problems.append(f"rule {code}: no {kind} {row[key]!r} in service")
            in_use.add((kind, row[key]))
    for kind in ("group", "category", "agency"):
        for code in sorted(set(current[kind]) - live[kind]):
            if (kind, code) in in_use and not current[kind][code]["retired"]:
                problems.append(f"{kind} {code} is still used; it cannot be retired")
    problems += _area_problems(conn, wanted)
    if problems:
        raise PhananhError(ErrorCode.BAD_INPUT, "The catalogue has problems; nothing was "
                           "changed:\n  " + "\n  ".join(problems[:20]), problems=problems)


def _after(kind: str, wanted: Catalogue, current: dict[str, dict[str, Row]]) -> dict[str, Row]:
    """The live entries of ``kind`` once applied."""
    rows = _wanted(kind, wanted)
    if rows is not None:
        return rows
    return {code: row for code, row in current[kind].items() if not row["retired"]}


def _area_problems(conn: Connection, wanted: Catalogue) -> list[str]:
    """Areas an agency serves must exist in the generation named; a rule's area in some
    generation."""
    known = {(g, level, code) for g, level, code in conn.execute(text("""
        SELECT g.name, a.level, a.code FROM admin_area a
        JOIN boundary_generation g ON g.id = a.generation_id"""))}
    generations = {g for g, _, _ in known} | set(conn.execute(
        select(boundary_generation.c.name)).scalars())
    codes = {(level, code) for _, level, code in known}
    problems = []
    for code, row in (wanted.agencies or {}).items():
        for generation, level, area in row["serves"]:
            if generation not in generations:
                problems.append(f"agency {code}: no boundary generation {generation!r}")
            elif (generation, level, area) not in known:
                problems.append(f"agency {code}: no {level} {area} in {generation}")
    for code, row in (wanted.rules or {}).items():
        if row["area_code"] is not None and (row["area_level"], row["area_code"]) not in codes:
            problems.append(f"rule {code}: no {row['area_level']} {row['area_code']} in any "
                            f"boundary generation")
    return sorted(set(problems))


def _calendar_change(conn: Connection, wanted: Row | None) -> Change | None:
    if wanted is None:
        return None
    zone = conn.execute(select(work_calendar.c.time_zone)).scalar()
    periods = sorted(tuple(r) for r in conn.execute(
        select(working_period.c.weekday, working_period.c.starts, working_period.c.ends)))
    holidays = sorted(tuple(r) for r in conn.execute(select(holiday.c.day, holiday.c.name)))
    fields = tuple(name for name, now in (("time_zone", zone), ("periods", periods),
                                          ("holidays", holidays)) if wanted[name] != now)
    if not fields:
        return None
    if zone is None:
        return Change("calendar", "calendar", "create")
    return Change("calendar", "calendar", "update", fields)


def _write(conn: Connection, change: Change, wanted: Catalogue) -> None:
    if change.kind == "calendar":
        _write_calendar(conn, wanted.calendar or {})
        return
    table = KINDS[change.kind][1]
    if change.action == "retire":
        conn.execute(update(table).where(table.c.code == change.code)
                     .values(retired_at=func.now()))
        return
    row = (_wanted(change.kind, wanted) or {})[change.code]
    values = {k: v for k, v in row.items() if k in table.c}
    conn.execute(pg_insert(table).values(**values, retired_at=None).on_conflict_do_update(
        index_elements=["code"], set_={**values, "retired_at": None}))
    if change.kind == "category":
        conn.execute(delete(category_attribute)
                     .where(category_attribute.c.category_code == change.code))
        if row["attributes"]:
            conn.execute(category_attribute.insert(),
                         [{**a, "category_code": change.code} for a in row["attributes"]])
    if change.kind == "agency":
        conn.execute(delete(agency_area).where(agency_area.c.agency_code == change.code))
        if row["serves"]:
            conn.execute(text("""
                INSERT INTO agency_area (agency_code, generation_id, level, area_code)
                SELECT :agency, g.id, :level, :area FROM boundary_generation g
                WHERE g.name = :generation"""),
                [{"agency": change.code, "generation": g, "level": level, "area": area}
                 for g, level, area in row["serves"]])


def _write_calendar(conn: Connection, row: Row) -> None:
    conn.execute(delete(working_period))
    conn.execute(delete(holiday))
    conn.execute(pg_insert(work_calendar).values(id=True, time_zone=row["time_zone"])
                 .on_conflict_do_update(index_elements=["id"],
                                        set_={"time_zone": row["time_zone"]}))
    conn.execute(working_period.insert(), [{"weekday": w, "starts": s, "ends": e}
                                           for w, s, e in row["periods"]])
    if row["holidays"]:
        conn.execute(holiday.insert(), [{"day": d, "name": n} for d, n in row["holidays"]])
