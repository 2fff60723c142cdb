"""The authorization policy, in one place, as SQL predicates over ``complaint``.

Queries select personal columns only where :func:`may_see_personal` holds, and workflow
mutations lock a complaint only where :func:`may_act` holds, so the database itself never hands
a caller a row or a field the policy denies.

- Ward officers act on complaints in their wards, district officers on complaints in their
  districts' wards, city admins everywhere. Citizens, analysts and the public never act as
  officials.
- Agencies narrow this: an official who belongs to agencies acts only on complaints routed to
  one of them, and only in the areas that agency serves (in the complaint's generation). An
  ``agency_officer`` has no area scope of their own: their agencies' areas are their scope.
  So an official of one agency cannot act on a complaint routed to another in the same ward.
- Personal data (reporter name, phone, e-mail; the address of complaints in sensitive
  categories) is visible to the complaint's reporter and to officials who may act on it.
"""

from sqlalchemy import ColumnElement, and_, exists, false, select, true

from auth.principal import Principal, Role
from db.tables import admin_area, agency_area, complaint


def may_act(principal: Principal | None) -> ColumnElement[bool]:
    """Complaints on which ``principal`` may act as an official."""
    if principal is None or not principal.is_official:
        return false()
    if principal.role is Role.CITY_ADMIN:
        return true()
    if principal.role is Role.WARD_OFFICER:
        scope = _area_in(complaint.c.ward_id, "ward", principal.ward_codes)
    elif principal.role is Role.DISTRICT_OFFICER:
        scope = _area_in(complaint.c.district_id, "district", principal.district_codes)
    else:
        scope = true()
    if not principal.agency_codes:
        return scope if principal.role is not Role.AGENCY_OFFICER else false()
    return and_(scope, _routed_to(principal.agency_codes))


def is_reporter(principal: Principal | None) -> ColumnElement[bool]:
    """Complaints ``principal`` reported (signed in as a citizen)."""
    if principal is None or principal.role is not Role.CITIZEN:
        return false()
    return complaint.c.reporter_user_id == principal.user_id


def may_see_personal(principal: Principal | None) -> ColumnElement[bool]:
    return is_reporter(principal) | may_act(principal)


def visible_note(actor: str, note: str | None, personal: bool) -> str | None:
    """A history note as a caller sees it: a reporter's own words are personal data (they may
    name or describe the reporter), officials' notes are public."""
    return note if personal or actor != "reporter" else None


def _routed_to(agency_codes: frozenset[str]) -> ColumnElement[bool]:
    """Routed to one of ``agency_codes``, and placed in an area that agency serves."""
    c = complaint.c
    served = (select(agency_area.c.agency_code)
              .join(admin_area, and_(admin_area.c.generation_id == agency_area.c.generation_id,
                                     admin_area.c.level == agency_area.c.level,
                                     admin_area.c.code == agency_area.c.area_code))
              .where(agency_area.c.agency_code == c.agency_code,
                     admin_area.c.id.in_([c.ward_id, c.district_id, c.city_id])))
    return and_(c.agency_code.in_(sorted(agency_codes)), exists(served))


def _area_in(column: ColumnElement[int], level: str, codes: frozenset[str]) -> ColumnElement[bool]:
    if not codes:
        return false()
    areas = select(admin_area.c.id).where(admin_area.c.level == level,
                                          admin_area.c.code.in_(sorted(codes)))
    return column.in_(areas)
