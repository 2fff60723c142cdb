"""Accounts and their area scopes."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from auth.principal import OFFICIAL_ROLES, Principal, Role
from errors import ErrorCode, PhananhError, quoted

SCOPE_LEVEL = {Role.WARD_OFFICER: "ward", Role.DISTRICT_OFFICER: "district"}


def add_user(conn: Connection, username: str, role: Role, areas: Sequence[str] = (),
             display_name: str | None = None, agencies: Sequence[str] = ()) -> int:
    """Create a user; ward and district officers need at least one area code they serve,
    agency officers at least one agency; any official may belong to agencies."""
    level = SCOPE_LEVEL.get(role)
    _check_agencies(conn, role, agencies)
    if level and not areas:
        raise PhananhError(ErrorCode.BAD_INPUT, f"A {role} needs --area CODE (a {level} code).")
    if areas and not level:
        raise PhananhError(ErrorCode.BAD_INPUT, f"A {role} has no area scope; drop --area.")
    if level:
        known = set(conn.execute(text("SELECT code FROM admin_area WHERE level = :level "
                                      "AND code = ANY(:codes)"),
                                 {"level": level, "codes": list(areas)}).scalars())
        unknown = sorted(set(areas) - known)
        if unknown:
            raise PhananhError(ErrorCode.NOT_FOUND, f"No {level} with code(s) {unknown}.")
    user_id = conn.execute(text("""
        INSERT INTO app_user (username, role, display_name) VALUES (:u, :r, :d)
        ON CONFLICT (username) DO NOTHING RETURNING id"""),
        {"u": username, "r": str(role), "d": display_name}).scalar()
    if user_id is None:
        raise PhananhError(ErrorCode.BAD_INPUT, f"User {quoted(username)} exists already.")
    for code in areas:
        conn.execute(text("INSERT INTO user_area (user_id, level, code) VALUES (:u, :l, :c)"),
                     {"u": user_id, "l": level, "c": code})
    for code in agencies:
        conn.execute(text("INSERT INTO agency_member (agency_code, user_id) VALUES (:a, :u)"),
                     {"a": code, "u": user_id})
    return user_id


def _check_agencies(conn: Connection, role: Role, agencies: Sequence[str]) -> None:
    if role is Role.AGENCY_OFFICER and not agencies:
        raise PhananhError(ErrorCode.BAD_INPUT, "An agency_officer needs --agency CODE.")
    if agencies and role not in OFFICIAL_ROLES - {Role.CITY_ADMIN}:
        raise PhananhError(ErrorCode.BAD_INPUT, f"A {role} belongs to no agency; drop --agency.")
    known = set(conn.execute(text("SELECT code FROM agency WHERE retired_at IS NULL "
                                  "AND code = ANY(:codes)"), {"codes": list(agencies)}).scalars())
    unknown = sorted(set(agencies) - known)
    if unknown:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No agency in service with code(s) {unknown}.")


def list_users(conn: Connection) -> list[Any]:
    return list(conn.execute(text("""
        SELECT u.username, u.role, u.disabled, u.display_name,
               COALESCE(string_agg(a.code, ',' ORDER BY a.code), '') AS areas,
               ARRAY_TO_STRING(ARRAY(SELECT m.agency_code FROM agency_member m
                                     WHERE m.user_id = u.id ORDER BY 1), ',') AS agencies,
               (SELECT count(*) FROM api_token t WHERE t.user_id = u.id
                AND t.revoked_at IS NULL) AS live_tokens
        FROM app_user u LEFT JOIN user_area a ON a.user_id = u.id
        GROUP BY u.id ORDER BY u.role, u.username""")))


def set_disabled(conn: Connection, username: str, disabled: bool) -> None:
    if not conn.execute(text("UPDATE app_user SET disabled = :d WHERE username = :u"),
                        {"d": disabled, "u": username}).rowcount:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No user {quoted(username)}.")


def load_principal(conn: Connection, *, user_id: int | None = None,
                   username: str | None = None, token_id: str = "") -> Principal | None:
    """An enabled user with their area scope, by id or username; None if absent or disabled."""
    row = conn.execute(text("""
        SELECT u.id, u.username, u.role,
               COALESCE(array_agg(a.code) FILTER (WHERE a.level = 'ward'), '{}') AS wards,
               COALESCE(array_agg(a.code) FILTER (WHERE a.level = 'district'), '{}')
                   AS districts,
               ARRAY(SELECT m.agency_code FROM agency_member m WHERE m.user_id = u.id)
                   AS agencies
        FROM app_user u LEFT JOIN user_area a ON a.user_id = u.id
        WHERE (u.id = :id OR u.username = :username) AND NOT u.disabled
        GROUP BY u.id"""), {"id": user_id, "username": username}).first()
    if row is None:
        return None
    return Principal(user_id=row.id, username=row.username, role=Role(row.role),
                     ward_codes=frozenset(row.wards), district_codes=frozenset(row.districts),
                     agency_codes=frozenset(row.agencies), token_id=token_id)
