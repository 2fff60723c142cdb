"""Contacts and alerts of the signed-in caller: thin resolvers over ``notify.alerts``."""

import anyio
import strawberry

from db.engine import read, write
from errors import ErrorCode, PhananhError
from notify import alerts as service
from notify import webhook_url
from schema.notify import Alert, AlertInput, Contact, ContactChannel, ContactInput
from schema.permissions import SignedIn
from schema.types import Ctx


def _id(value: strawberry.ID) -> int:
    return int(value) if str(value).isdigit() and len(str(value)) < 10 else 0


async def _check_webhook(url: str, allow_private: bool) -> None:
    """Refuse a URL the worker must not call (resolving its host: in a worker thread)."""
    try:
        await anyio.to_thread.run_sync(webhook_url.check, url, allow_private)
    except webhook_url.UnsafeURL as error:
        raise PhananhError(ErrorCode.BAD_INPUT, f"target refused: {error}.") from None


@strawberry.type
class NotifyQuery:
    @strawberry.field(permission_classes=[SignedIn], description="Your contacts.")
    async def my_contacts(self, info: Ctx) -> list[Contact]:
        rows = await read(info.context.engine, service.contacts, principal=info.context.principal)
        return [Contact.from_row(r) for r in rows]

    @strawberry.field(permission_classes=[SignedIn], description="Your alerts.")
    async def my_alerts(self, info: Ctx) -> list[Alert]:
        rows = await read(info.context.engine, service.alerts, principal=info.context.principal)
        return [Alert.from_row(r) for r in rows]


@strawberry.type
class NotifyMutation:
    @strawberry.mutation(permission_classes=[SignedIn],
                         description="Be reached by a webhook (signed; the secret is in the "
                                     "answer) or by e-mail, in Vietnamese or English.")
    async def add_contact(self, info: Ctx, input: ContactInput) -> Contact:
        context = info.context
        target = input.checked_target()
        if input.channel is ContactChannel.WEBHOOK:
            await _check_webhook(target, context.settings.webhook_allow_private)
        row = await write(context.engine, service.add_contact, principal=context.principal,
                          channel=input.channel.value, target=target,
                          lang=input.lang.value, limit=context.settings.alerts_per_user)
        await context.written()
        return Contact.from_row(row)

    @strawberry.mutation(permission_classes=[SignedIn])
    async def remove_contact(self, info: Ctx, id: strawberry.ID) -> bool:
        await write(info.context.engine, service.delete, principal=info.context.principal,
                    table="user_contact", row_id=_id(id))
        await info.context.written()
        return True

    @strawberry.mutation(permission_classes=[SignedIn],
                         description="Watch an area: a drawn polygon, a ward or a circle.")
    async def create_alert(self, info: Ctx, input: AlertInput) -> Alert:
        context = info.context
        settings = context.settings
        row = await write(context.engine, service.create_alert, principal=context.principal,
                          name=input.checked_name(),
                          area=input.area(settings.max_polygon_vertices),
                          categories=list(input.categories or []),
                          event_kinds=[k.value for k in input.event_kinds],
                          limit=settings.alerts_per_user)
        await context.written()
        return Alert.from_row(row)

    @strawberry.mutation(permission_classes=[SignedIn])
    async def remove_alert(self, info: Ctx, id: strawberry.ID) -> bool:
        await write(info.context.engine, service.delete, principal=info.context.principal,
                    table="alert", row_id=_id(id))
        await info.context.written()
        return True
