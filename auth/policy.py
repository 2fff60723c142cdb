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
  categories; photos of sensitive categories and photos their uploader marked private) is
  visible to the complaint's reporter and to officials who may act on it.
- Free text (description, address, officials' notes in the history) is read by them as
  written, by everyone else as its public copy, where phones, e-mails, ID numbers and plates
  are redacted (``redact_personal``).
- New complaints are announced to the officials who may act on them
  (:func:`officials_to_notify`).
"""

from sqlalchemy import ColumnElement, and_, case, exists, false, or_, select, true

from auth.principal import Principal, Role
from db.tables import (
    REDACTED_COLUMNS,
    admin_area,
    agency_area,
    agency_member,
    app_user,
    category,
    complaint,
    photo,
    user_area,
)


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


def visible_note(actor: str, note: str | None, public_note: str | None, personal: bool
                 ) -> str | None:
    """A history note as a caller sees it, by the rule of :func:`free_text`: as written where
    ``personal`` (:func:`may_see_personal`) holds; for everyone else, an official's note as its
    public copy ``public_note`` (``redact_personal(note)``, read with the event), and a
    reporter's own words not at all (they may name or describe the reporter)."""
    if personal:
        return note
    return None if actor == "reporter" else public_note


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


def photo_restricted() -> ColumnElement[bool]:
    """Photos that are personal data: marked private, or of a complaint (joined) in a
    sensitive category."""
    sensitive = (select(category.c.sensitive)
                 .where(category.c.code == complaint.c.category_code)
                 .correlate_except(category).scalar_subquery())
    return photo.c.private | sensitive


def may_see_photo(principal: Principal | None) -> ColumnElement[bool]:
    """Photos (joined with their complaint) ``principal`` may see."""
    return ~photo_restricted() | may_see_personal(principal)


def officials_to_notify(complaint_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The accounts (rows of ``app_user``) told of a new complaint: the active officials who
    may act on it (the inverse of :func:`may_act`): city admins; ward and district officers
    whose areas hold it, unless they belong to agencies other than the one it is routed to;
    and the officers of that agency."""
    here = [select(column).where(complaint.c.id == complaint_id).scalar_subquery()
            for column in (complaint.c.ward_id, complaint.c.district_id)]
    scope = (select(user_area.c.user_id)
             .join(admin_area, (admin_area.c.code == user_area.c.code)
                   & (admin_area.c.level == user_area.c.level))
             .where(admin_area.c.id.in_(here)))
    routed_to = select(complaint.c.agency_code).where(
        complaint.c.id == complaint_id).scalar_subquery()
    of_agency = select(agency_member.c.user_id).where(agency_member.c.agency_code == routed_to)
    u = app_user.c
    return ~u.disabled & or_(
        u.role == Role.CITY_ADMIN.value,
        u.role.in_([Role.WARD_OFFICER.value, Role.DISTRICT_OFFICER.value]) & u.id.in_(scope)
        & (~u.id.in_(select(agency_member.c.user_id)) | u.id.in_(of_agency)),
        (u.role == Role.AGENCY_OFFICER.value) & u.id.in_(of_agency))


def free_text(name: str, principal: Principal | None) -> ColumnElement[str]:
    """The complaint's free-text column ``name`` as ``principal`` may read it: the original
    where :func:`may_see_personal` holds, else the redacted public copy."""
    return case((may_see_personal(principal), complaint.c[name]),
                else_=REDACTED_COLUMNS[name])


def _area_in(column: ColumnElement[int], level: str, codes: frozenset[str]) -> ColumnElement[bool]:
    if not codes:
        return false()
    areas = select(admin_area.c.id).where(admin_area.c.level == level,
                                          admin_area.c.code.in_(sorted(codes)))
    return column.in_(areas)
