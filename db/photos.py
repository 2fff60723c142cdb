"""SQL for photos: store one, list a complaint's, find one by its public token."""

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from auth.policy import may_see_photo, photo_restricted
from auth.principal import Principal
from db.tables import complaint, photo

MEDIA_PATH = "/media/"  # photos are served at MEDIA_PATH + token (media/routes.py)



def photo_path(token: str, thumbnail: bool = False) -> str:
    """The URL path of a photo, relative to the API's address."""
    return f"{MEDIA_PATH}{token}/thumbnail" if thumbnail else f"{MEDIA_PATH}{token}"


PHOTO_COLUMNS = (photo.c.id, photo.c.token, photo.c.complaint_id, photo.c.stage,
                 photo.c.private, photo.c.media_type, photo.c.width, photo.c.height,
                 photo.c.bytes, photo.c.created_at)


def new_token() -> str:
    """A public photo id: 128 random bits, nothing sequential to guess from."""
    return secrets.token_urlsafe(16)


def add_photo(conn: Connection, values: dict[str, Any]) -> Any:
    return conn.execute(insert(photo).values(token=new_token(), **values)
                        .returning(*PHOTO_COLUMNS)).one()


def photo_count(conn: Connection, complaint_id: int) -> int:
    return conn.execute(select(func.count()).where(photo.c.complaint_id == complaint_id)
                        ).scalar_one()


def photos_for(conn: Connection, complaint_ids: Sequence[int]) -> list[Any]:
    """The photos of these complaints, oldest first, each saying whether it is personal data
    (the caller filters with the complaint's ``may_see_personal``)."""
    query = (select(*PHOTO_COLUMNS, photo_restricted().label("restricted"))
             .join(complaint, complaint.c.id == photo.c.complaint_id)
             .where(photo.c.complaint_id.in_(list(complaint_ids)))
             .order_by(photo.c.complaint_id, photo.c.created_at, photo.c.id))
    return list(conn.execute(query))


def photo_by_token(conn: Connection, token: str, viewer: Principal | None) -> Any:
    """The stored file names of the photo behind ``token``, when ``viewer`` may see it."""
    query = (select(photo.c.sha256, photo.c.thumbnail_sha256, photo.c.media_type,
                    photo_restricted().label("restricted"))
             .join(complaint, complaint.c.id == photo.c.complaint_id)
             .where(photo.c.token == token, may_see_photo(viewer)))
    return conn.execute(query).first()


def public_photo_paths() -> ColumnElement[str]:
    """The space-separated paths of the public photos of the (outer query's) complaint, null
    when it has none: what exports, tiles and OGC items may link."""
    ordered = aggregate_order_by(literal(" "), photo.c.created_at, photo.c.id)
    return (select(func.string_agg(func.concat(MEDIA_PATH, photo.c.token), ordered))
            .where(photo.c.complaint_id == complaint.c.id, ~photo_restricted())
            .correlate_except(photo).scalar_subquery())
