"""Contacts (how an account is reached) and alerts (what it watches), per account, limited.

An alert's area is stored as a polygon whatever it was given as: a drawn polygon (validated by
the caller exactly like the ``within`` filter, ``geo.validation.parse_polygon``), a ward (its
boundary in force today) or a circle (``radius`` true metres around a point, buffered on the
spheroid). Matching an event is then one GiST-indexed ``ST_Covers`` (``db/outbox.py``).
Unsubscribe links carry the alert's random token, so they work without signing in.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from auth.principal import Principal
from db import areas as area_sql
from db.outbox import ALERT_KINDS
from errors import ErrorCode, PhananhError, quoted


@dataclass(frozen=True)
class Circle:
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class AlertArea:
    """Exactly one of: a validated polygon, a ward code, a circle."""

    polygon: BaseGeometry | None = None
    ward_code: str | None = None
    circle: Circle | None = None


CONTACT_COLUMNS = "id, channel, target, secret, lang, created_at"
ALERT_COLUMNS = ("id, name, categories, event_kinds, active, created_at, "
                 "ST_AsGeoJSON(area)::json AS area")


def add_contact(conn: Connection, principal: Principal, channel: str, target: str, lang: str,
                limit: int) -> Any:
    """A new contact; webhooks get the secret their receiver checks signatures with."""
    _check_limit(conn, "user_contact", principal, limit)
    secret = secrets.token_urlsafe(32) if channel == "webhook" else None
    row = conn.execute(text(f"""
        INSERT INTO user_contact (user_id, channel, target, secret, lang)
        VALUES (:user, :channel, :target, :secret, :lang)
        ON CONFLICT (user_id, channel, target) DO NOTHING RETURNING {CONTACT_COLUMNS}"""),
        {"user": principal.user_id, "channel": channel, "target": target, "secret": secret,
         "lang": lang}).first()
    if row is None:
        raise PhananhError(ErrorCode.CONFLICT, f"You already have the {channel} contact "
                                               f"{quoted(target)}.")
    return row


def contacts(conn: Connection, principal: Principal) -> list[Any]:
    return list(conn.execute(text(f"SELECT {CONTACT_COLUMNS} FROM user_contact "
                                  "WHERE user_id = :user ORDER BY id"),
                             {"user": principal.user_id}))


def create_alert(conn: Connection, principal: Principal, name: str, area: AlertArea,
                 categories: list[str], event_kinds: list[str], limit: int) -> Any:
    _check_limit(conn, "alert", principal, limit)
    unknown = sorted(set(categories) - set(conn.execute(
        text("SELECT code FROM category WHERE code = ANY(:codes)"),
        {"codes": categories}).scalars()))
    if unknown:
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown categories {', '.join(unknown)}; see `categories`.")
    if not event_kinds or set(event_kinds) - set(ALERT_KINDS):
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"eventKinds: one or more of {', '.join(ALERT_KINDS)}.")
    geometry, params = _area_sql(conn, area)
    return conn.execute(text(f"""
        INSERT INTO alert (token, user_id, name, area, categories, event_kinds)
        VALUES (:token, :user, :name, ST_Multi({geometry}), :categories, :kinds)
        RETURNING {ALERT_COLUMNS}"""),
        {"token": secrets.token_urlsafe(24), "user": principal.user_id, "name": name,
         "categories": sorted(set(categories)), "kinds": sorted(set(event_kinds)),
         **params}).one()


def alerts(conn: Connection, principal: Principal) -> list[Any]:
    return list(conn.execute(text(f"SELECT {ALERT_COLUMNS} FROM alert WHERE user_id = :user "
                                  "ORDER BY id"), {"user": principal.user_id}))


def delete(conn: Connection, principal: Principal, table: str, row_id: int) -> None:
    """Delete one of the caller's alerts or contacts; anybody else's does not exist."""
    assert table in ("alert", "user_contact")
    deleted = conn.execute(text(f"DELETE FROM {table} WHERE id = :id AND user_id = :user"),
                           {"id": row_id, "user": principal.user_id}).rowcount
    if not deleted:
        raise PhananhError(ErrorCode.NOT_FOUND, f"You have no {table.replace('user_', '')} "
                                                f"with id {row_id}.")


def unsubscribe(conn: Connection, token: str) -> str | None:
    """Switch off the alert of an unsubscribe link; its name, or None for an unknown token."""
    return conn.execute(text("UPDATE alert SET active = false WHERE token = :token "
                             "RETURNING name"), {"token": token}).scalar()


def _check_limit(conn: Connection, table: str, principal: Principal, limit: int) -> None:
    # Serialize one account's additions, so two concurrent ones cannot both pass the count.
    conn.execute(text("SELECT 1 FROM app_user WHERE id = :user FOR UPDATE"),
                 {"user": principal.user_id})
    count = conn.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :user"),
                         {"user": principal.user_id}).scalar_one()
    if count >= limit:
        what = "alerts" if table == "alert" else "contacts"
        raise PhananhError(ErrorCode.TOO_MANY_ALERTS,
                           f"An account may have at most {limit} {what}.", max=limit)


def _area_sql(conn: Connection, area: AlertArea) -> tuple[str, dict[str, Any]]:
    if area.polygon is not None:
        return "ST_GeomFromText(:wkt, 4326)", {"wkt": area.polygon.wkt}
    if area.ward_code is not None:
        wards = area_sql.find_areas(conn, code=area.ward_code, level="ward")
        if not wards:
            raise PhananhError(ErrorCode.NOT_FOUND,
                               f"No ward with code {quoted(area.ward_code)} in force.")
        return "(SELECT geom FROM admin_area WHERE id = :ward_id)", {"ward_id": wards[0].id}
    assert area.circle is not None
    return ("CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), "
            ":radius, 'quad_segs=32') AS geometry)",
            {"lon": area.circle.lon, "lat": area.circle.lat, "radius": area.circle.radius_m})
