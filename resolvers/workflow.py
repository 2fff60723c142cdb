"""The officials' and reporters' mutations, and `me`.

Each mutation checks the caller's role with a strawberry permission, then runs the workflow
service in one transaction, which checks jurisdiction on the locked row with the policy SQL.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import strawberry
from sqlalchemy import Connection

from auth.principal import Principal
from db import complaints as complaint_sql
from db.engine import write
from media.service import add_photos, check_may_add, prepare
from schema.inputs import PhotoUpload
from schema.permissions import OfficialsOnly, ReportersAndOfficials, ReportersOnly, SignedIn
from schema.text import clean_text
from schema.types import Complaint, ComplaintStatus, Ctx, Rating
from schema.workflow import WORKFLOW, RejectionReason, Workflow
from workflow import service
from workflow.states import Status


@strawberry.type(description="The signed-in caller.")
class Me:
    username: str
    role: str
    ward_codes: list[str]
    district_codes: list[str]
    agency_codes: list[str]


async def act(info: Ctx, public_id: strawberry.ID,
              change: Callable[[Connection, Principal], None]) -> Complaint:
    """Apply ``change`` in one transaction and return the complaint as the caller sees it."""
    principal = info.context.principal
    assert principal is not None  # guaranteed by the SignedIn permission

    def work(conn: Connection) -> Any:
        change(conn, principal)
        return complaint_sql.fetch_by_public_ids(conn, [str(public_id)], principal)[0]

    row = await write(info.context.engine, work)
    await info.context.written()
    return Complaint.from_row(row)


OFFICIAL = [SignedIn, OfficialsOnly]


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="The workflow's statuses and their groups, ratings and "
                                  "rejection reasons: clients read these lists here rather "
                                  "than keeping a copy.")
    def workflow(self) -> Workflow:
        return WORKFLOW

    @strawberry.field(description="Who the bearer token belongs to; null when not signed in.")
    def me(self, info: Ctx) -> Me | None:
        p = info.context.principal
        if p is None:
            return None
        return Me(username=p.username, role=str(p.role), ward_codes=sorted(p.ward_codes),
                  district_codes=sorted(p.district_codes),
                  agency_codes=sorted(p.agency_codes))


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(permission_classes=OFFICIAL,
                         description="RECEIVED/REOPENED → ASSIGNED, to `assignee` (an official "
                                     "with jurisdiction; default: you).")
    async def assign_complaint(self, info: Ctx, id: strawberry.ID, expected_version: int,
                               assignee: str | None = None,
                               note: str | None = None) -> Complaint:
        return await act(info, id, lambda conn, p: service.assign(
            conn, p, str(id), expected_version, assignee, _note(note)))

    @strawberry.mutation(permission_classes=[SignedIn, ReportersAndOfficials],
                         description="Move a complaint on: officials to IN_PROGRESS, RESOLVED "
                                     "or REJECTED (with a reason); its reporter to REOPENED "
                                     "(within the reopen window) or CLOSED.")
    async def transition_complaint(self, info: Ctx, id: strawberry.ID, to: ComplaintStatus,
                                   expected_version: int, note: str | None = None,
                                   reason: RejectionReason | None = None) -> Complaint:
        window = timedelta(days=info.context.settings.reopen_window_days)
        return await act(info, id, lambda conn, p: service.transition(
            conn, p, str(id), Status(to.value), expected_version, _note(note),
            reason.value if reason else None, window))

    @strawberry.mutation(permission_classes=OFFICIAL,
                         description="Send a misrouted complaint to another ward; it starts "
                                     "over there as RECEIVED and keeps its history.")
    async def reroute_complaint(self, info: Ctx, id: strawberry.ID, ward_code: str,
                                reason: str, expected_version: int) -> Complaint:
        return await act(info, id, lambda conn, p: service.reroute(
            conn, p, str(id), ward_code, reason, expected_version))

    @strawberry.mutation(permission_classes=OFFICIAL,
                         description="Reroute to one of the wards in the complaint's "
                                     "`routing` (a border candidate, or a ward its footprint "
                                     "touches); like rerouteComplaint, it starts over there "
                                     "as RECEIVED, and the history records it.")
    async def reroute_to_candidate(self, info: Ctx, id: strawberry.ID, ward_code: str,
                                   expected_version: int,
                                   note: str | None = None) -> Complaint:
        return await act(info, id, lambda conn, p: service.reroute_to_candidate(
            conn, p, str(id), ward_code, expected_version, _note(note)))

    @strawberry.mutation(permission_classes=[SignedIn, ReportersAndOfficials],
                         description="Attach photos (multipart upload): the reporter's of the "
                                     "problem, or an official's of the result (AFTER).")
    async def add_photos(self, info: Ctx, id: strawberry.ID,
                         photos: list[PhotoUpload]) -> Complaint:
        settings = info.context.settings
        await write(info.context.engine, check_may_add, principal=info.context.principal,
                    public_id=str(id), count=len(photos), limit=settings.photos_per_complaint)
        uploads = [await p.read(settings.photo_max_bytes) for p in photos]
        stored = await prepare(uploads, settings, info.context.store)
        return await act(info, id, lambda conn, p: add_photos(
            conn, p, str(id), stored, settings.photos_per_complaint))

    @strawberry.mutation(permission_classes=[SignedIn, ReportersAndOfficials],
                         description="Add a note to the history (reporter or official).")
    async def comment_on_complaint(self, info: Ctx, id: strawberry.ID,
                                   text: str) -> Complaint:
        return await act(info, id, lambda conn, p: service.comment(conn, p, str(id),
                                                                   _note(text)))

    @strawberry.mutation(permission_classes=[SignedIn, ReportersOnly],
                         description="The reporter rates an answered complaint, closing it.")
    async def rate_complaint(self, info: Ctx, id: strawberry.ID, rating: Rating,
                             comment: str | None = None) -> Complaint:
        return await act(info, id, lambda conn, p: service.rate(
            conn, p, str(id), rating.value, _note(comment)))

    @strawberry.mutation(permission_classes=OFFICIAL,
                         description="Close a complaint as a duplicate of another (`of`).")
    async def mark_duplicate(self, info: Ctx, id: strawberry.ID, of: strawberry.ID,
                             expected_version: int, note: str | None = None) -> Complaint:
        return await act(info, id, lambda conn, p: service.mark_duplicate(
            conn, p, str(id), str(of), expected_version, _note(note)))


def _note(text: str | None) -> str | None:
    """A note as stored: stripped, 1 to 5,000 characters (None: no note)."""
    return clean_text("note", text, 1, 5_000)
