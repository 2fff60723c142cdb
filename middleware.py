"""ASGI middleware that protects the server before any request is parsed."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errors import ErrorCode, error_response


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 and the one error body, whether the client
    announced the size (Content-Length) or streamed it. Multipart bodies (GraphQL uploads)
    carry photos and may reach ``multipart_max_bytes``; each photo is limited again on its own."""

    def __init__(self, app: ASGIApp, max_bytes: int, multipart_max_bytes: int | None = None
                 ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_max_bytes = multipart_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.multipart_max_bytes if multipart else self.max_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        refusal = error_response(ErrorCode.REQUEST_TOO_LARGE,
                                 f"Request bodies are limited to {limit} bytes.",
                                 maxBytes=limit)
        await refusal(scope, receive, send)
