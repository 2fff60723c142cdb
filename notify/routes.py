"""``/alerts/unsubscribe/{token}``: the link in every alert notification switches the alert off,
without signing in (GET for people, POST for mail clients' one-click List-Unsubscribe)."""

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from db.engine import write
from errors import ErrorCode, PhananhError
from notify.alerts import unsubscribe


def notify_routes(engine: Engine) -> list[BaseRoute]:
    async def unsubscribe_link(request: Request) -> Response:
        name = await write(engine, unsubscribe, token=request.path_params["token"])
        if name is None:
            raise PhananhError(ErrorCode.NOT_FOUND, "No alert has this unsubscribe link.")
        return JSONResponse({"unsubscribed": True, "alert": name})

    return [Route("/alerts/unsubscribe/{token}", unsubscribe_link, methods=["GET", "POST"])]
