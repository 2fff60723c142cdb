"""Photos of a complaint: prepare uploads (check, re-encode, store) and attach them.

Preparing happens before the transaction and outside the event loop (decoding is CPU work);
the files are content-addressed, so a transaction that fails afterwards leaves at worst an
unreferenced file, never a row without its file; ``check_may_add`` refuses an addition before
any file is stored. Attaching counts the complaint's photos under
the complaint's row lock, so two concurrent uploads cannot pass the limit together.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from sqlalchemy import Connection

from auth.principal import Principal
from db import photos as sql
from db.workflow import add_event
from errors import ErrorCode, PhananhError
from media.images import reencode
from media.storage import Store
from settings import Settings
from workflow.service import actor_label, actor_of, locked
from workflow.states import Actor

STAGE_OF_ACTOR = {Actor.REPORTER: "REPORT", Actor.OFFICIAL: "AFTER"}


@dataclass(frozen=True)
class StoredPhoto:
    """A photo re-encoded and stored, not yet attached to a complaint."""

    sha256: str
    thumbnail_sha256: str
    media_type: str
    width: int
    height: int
    bytes: int
    private: bool


async def prepare(uploads: Sequence[tuple[bytes, bool]], settings: Settings,
                  store: Store) -> list[StoredPhoto]:
    """Check, re-encode and store each ``(data, private)`` upload, or refuse them all."""
    if len(uploads) > settings.photos_per_complaint:
        raise too_many(settings.photos_per_complaint)

    def work() -> list[StoredPhoto]:
        encoded = [(reencode(data, settings.photo_max_bytes, settings.photo_max_pixels), private)
                   for data, private in uploads]
        return [StoredPhoto(sha256=store.put(image.data),
                            thumbnail_sha256=store.put(image.thumbnail),
                            media_type=image.media_type, width=image.width, height=image.height,
                            bytes=len(image.data), private=private)
                for image, private in encoded]

    return await anyio.to_thread.run_sync(work)


def attach(conn: Connection, complaint_id: int, photos: Sequence[StoredPhoto], stage: str,
           uploaded_by: str, limit: int) -> None:
    """Attach prepared photos to a complaint the caller holds locked (or just inserted)."""
    if sql.photo_count(conn, complaint_id) + len(photos) > limit:
        raise too_many(limit)
    for stored in photos:
        sql.add_photo(conn, {"complaint_id": complaint_id, "stage": stage,
                             "uploaded_by": uploaded_by, **vars(stored)})


def check_may_add(conn: Connection, principal: Principal, public_id: str, count: int,
                  limit: int) -> None:
    """Refuse ``count`` more photos (no such complaint, not the caller's to illustrate, over
    the limit) *before* their files are stored, so a refused call leaves no unreferenced file.
    :func:`add_photos` checks again under the row lock; only a complaint changed in between
    can still leave a file behind."""
    row = locked(conn, principal, public_id, None, actor_of(principal))
    if sql.photo_count(conn, row.id) + count > limit:
        raise too_many(limit)


def add_photos(conn: Connection, principal: Principal, public_id: str,
               photos: Sequence[StoredPhoto], limit: int) -> None:
    """The reporter adds photos of the problem, an official with jurisdiction photos of the
    result ("after"); either way the history says so."""
    actor = actor_of(principal)
    row = locked(conn, principal, public_id, None, actor)
    attach(conn, row.id, photos, STAGE_OF_ACTOR[actor], actor_label(principal), limit)
    add_event(conn, row.id, actor_label(principal), "PHOTOS_ADDED",
              data={"count": len(photos), "stage": STAGE_OF_ACTOR[actor]})


def too_many(limit: int) -> PhananhError:
    return PhananhError(ErrorCode.TOO_MANY_PHOTOS,
                        f"A complaint may have at most {limit} photos.", max=limit)
