"""``GET /media/{token}`` and ``/media/{token}/thumbnail``: a photo, to whoever may see it.

A photo that is personal data (private, or of a sensitive category) answers only a bearer
token of someone who may see the complaint's personal data; to anyone else it does not exist
(404, the same answer as an unknown token, so nothing leaks). Public photos may be cached by
anyone; restricted ones by nobody.
"""

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auth.principal import Principal
from auth.tokens import authenticate
from db.engine import read
from db.photos import MEDIA_PATH, photo_by_token
from errors import ErrorCode, PhananhError
from media.storage import Store
from settings import Settings


async def bearer(request: Request, engine: Engine, settings: Settings) -> Principal | None:
    """The caller of a plain HTTP request; a token that does not verify fails closed."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PhananhError(ErrorCode.UNAUTHENTICATED,
                           "The Authorization header must be 'Bearer <token>'.")
    return await read(engine, authenticate, token=token.strip(), secret=settings.token_secret)


def media_routes(settings: Settings, engine: Engine, store: Store) -> list[BaseRoute]:
    async def serve(request: Request) -> Response:
        viewer = await bearer(request, engine, settings)
        token = request.path_params["token"]
        found = await read(engine, photo_by_token, token=token, viewer=viewer)
        thumbnail = request.url.path.endswith("/thumbnail")
        data = None if found is None else store.get(
            found.thumbnail_sha256 if thumbnail else found.sha256)
        if data is None:
            raise PhananhError(ErrorCode.NOT_FOUND, "No such photo.")
        cache = "private, no-store" if found.restricted else "public, max-age=86400, immutable"
        return Response(data, media_type=found.media_type,
                        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff",
                                 "Vary": "Authorization"})

    return [Route(MEDIA_PATH + "{token}", serve),
            Route(MEDIA_PATH + "{token}/thumbnail", serve)]
