"""Mutations. Issue 2 brings submission; the officials' workflow builds on the same pieces."""

from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import Connection

from auth.principal import Principal, Role
from db import areas as area_sql
from db import complaints as complaint_sql
from db.engine import write
from errors import ErrorCode, PhananhError
from geo.jurisdiction import lookup_points, ward_at
from resolvers.points import check_points
from schema.inputs import SubmitComplaintInput
from schema.permissions import NotAnalyst
from schema.types import Complaint, Ctx


def submit(conn: Connection, data: SubmitComplaintInput, lon: float, lat: float,
           reporter_account: Principal | None) -> Any:
    """Route the complaint to the ward holding it and store it, or say why not."""
    category = area_sql.categories_by_codes(conn, [data.category_code])
    if not category:
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown category {data.category_code!r}; see `categories`.")
    now = datetime.now(UTC)
    here = lookup_points(conn, [(lon, lat)], now)[0]
    if "ward" not in here:
        swapped = ward_at(conn, lat, lon) is not None
        hint = " The coordinates look swapped: give lon first, then lat." if swapped else ""
        raise PhananhError(ErrorCode.OUTSIDE_JURISDICTION,
                           f"({lon}, {lat}) is not inside any ward served here.{hint}",
                           swapped=bool(hint))
    reporter = data.reporter
    values = {
        "public_id": complaint_sql.new_public_id(),
        "description": data.description.strip(),
        "category_code": data.category_code,
        "address": data.address,
        "ward_id": here.get("ward"),
        "district_id": here.get("district"),
        "city_id": here.get("city"),
        "channel": data.channel,
        "media_urls": data.media_urls or [],
        "created_at": now,
        "updated_at": now,
        "due_at": now + timedelta(hours=category[0].sla_hours),
        "idempotency_key": data.idempotency_key,
        "reporter_name": reporter.name if reporter else None,
        "reporter_phone": reporter.phone if reporter else None,
        "reporter_email": reporter.email if reporter else None,
        "reporter_user_id": reporter_account.user_id if reporter_account else None,
    }
    return complaint_sql.insert_complaint(conn, values, lon, lat, reporter_account)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Report a problem at a place. It is routed to the ward "
                                     "holding the point; retries with the same "
                                     "`idempotencyKey` return the first complaint. Signed-in "
                                     "citizens become the complaint's reporter.",
                         permission_classes=[NotAnalyst])
    async def submit_complaint(self, info: Ctx, input: SubmitComplaintInput) -> Complaint:
        context = info.context
        principal = context.principal
        context.limits.check(context.client_address, principal.token_id if principal else None)
        input.check()
        lon, lat = input.point()
        await check_points(context.engine, [(lon, lat)])
        account = principal if principal and principal.role is Role.CITIZEN else None
        row = await write(context.engine, submit, data=input, lon=lon, lat=lat,
                          reporter_account=account)
        return Complaint.from_row(row)
