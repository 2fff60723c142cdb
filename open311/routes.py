"""HTTP for Open311 GeoReport v2 under ``/open311/v2/``, each resource in ``.json`` and ``.xml``.

Every resource is a thin mapping: submissions go through ``workflow.submission.submit`` after
the same checks as GraphQL's ``submitComplaint`` (``open311.params``), listings through
``db.complaints`` with no viewer (so the privacy policy's NULLs apply unchanged), and
``open311.mapping`` renames the fields. Errors leave in the spec's shape, a list of
``{code, description}`` with phananh's stable code, and the spec's HTTP statuses: 403 for a
missing or bad api_key, 404 for what does not exist, 400 for the rest.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import Connection, Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auth.api_keys import verify_key
from auth.rate_limit import SubmissionLimits, client_address
from catalogue.attributes import attributes_for
from db import areas as area_sql
from db import catalogue as catalogue_sql
from db import complaints as complaint_sql
from db import workflow as workflow_sql
from db.engine import read, write
from errors import HTTP_STATUS, ErrorCode, PhananhError
from geo.jurisdiction import ward_named_in
from open311 import mapping, params
from open311.render import FORMATS, to_json, to_xml, w3
from resolvers.points import check_points
from settings import Settings
from workflow.submission import FootprintRules, submit

PREFIX = "/open311/v2"
FORM = "application/x-www-form-urlencoded"
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
STATUS = {**HTTP_STATUS, ErrorCode.UNAUTHENTICATED: 403, ErrorCode.FORBIDDEN: 403,
          ErrorCode.UNKNOWN_CATEGORY: 404, ErrorCode.RATE_LIMITED: 429}
log = logging.getLogger(__name__)

Params = Mapping[str, list[str]]
# A document: its XML root element's name and its content.
Document = tuple[str, Mapping[str, Any] | Sequence[Any]]
Handler = Callable[[Request, Params], Awaitable[Document]]
# The Idempotency-Key header's longest value (stored scoped to the API key, within GraphQL's 200).
MAX_IDEMPOTENCY_KEY = 150


def error_document(error: PhananhError) -> Document:
    """The spec's list of errors: one per refused attribute answer (named as the form names
    it, ``attribute[code]``), else the one error."""
    problems = error.details.get("attributes")
    if isinstance(problems, Mapping) and problems:
        return "errors", [{"code": str(error.code),
                           "description": f"attribute[{code}] {problem}."}
                          for code, problem in problems.items()]
    return "errors", [{"code": str(error.code), "description": error.message}]


def render(fmt: str, document: Document, status_code: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    root, content = document
    body = to_xml(root, content) if fmt == "xml" else to_json(content)
    return Response(body, status_code=status_code, media_type=FORMATS[fmt], headers=headers)


class Open311:
    def __init__(self, settings: Settings, engine: Engine, limits: SubmissionLimits) -> None:
        self.settings = settings
        self.engine = engine
        self.limits = limits

    def routes(self) -> list[BaseRoute]:
        resources: dict[str, dict[str, Handler]] = {
            "/discovery.{fmt}": {"GET": self.discovery},
            "/services.{fmt}": {"GET": self.services},
            "/services/{code}.{fmt}": {"GET": self.service_definition},
            "/requests.{fmt}": {"GET": self.requests, "POST": self.create},
            "/requests/{id}.{fmt}": {"GET": self.request},
            "/tokens/{token}.{fmt}": {"GET": self.token},
            "/servicerequestupdates.{fmt}": {"GET": self.updates},
            "/{path:path}": {},  # anything else: 404 in the spec's shape
        }
        # Every method reaches the endpoint, which refuses the wrong ones in the spec's shape.
        return [Route(PREFIX + path, self._endpoint(handlers), methods=ANY_METHOD)
                for path, handlers in resources.items()]

    def _endpoint(self, handlers: Mapping[str, Handler]
                  ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            fmt = request.path_params.get("fmt", "json")
            fmt = fmt if fmt in FORMATS else "json"
            try:
                if not handlers:
                    raise PhananhError(ErrorCode.NOT_FOUND, f"No Open311 resource at "
                                                            f"{request.url.path}.")
                if request.path_params["fmt"] not in FORMATS:
                    raise PhananhError(ErrorCode.UNSUPPORTED_FORMAT,
                                       "Formats are .xml and .json.")
                handler = handlers.get("GET" if request.method == "HEAD" else request.method)
                if handler is None:
                    raise PhananhError(ErrorCode.METHOD_NOT_ALLOWED,
                                       f"{request.method} is not allowed here; use "
                                       f"{', '.join(handlers)}.")
                query = parse_qs(request.url.query, keep_blank_values=True)
                return render(fmt, await handler(request, query))
            except PhananhError as error:
                retry = error.details.get("retryAfter")
                return render(fmt, error_document(error), STATUS.get(error.code, 400),
                              {"Retry-After": str(retry)} if retry else None)
            except Exception:
                log.exception("Open311 %s %s failed", request.method, request.url.path)
                return render(fmt, error_document(
                    PhananhError(ErrorCode.INTERNAL_ERROR, "Unexpected error.")), 500)

        return endpoint

    def _jurisdiction(self, values: Params) -> None:
        """One jurisdiction is served; naming another is the spec's 404."""
        given = params.single(values, "jurisdiction_id")
        if given is not None and given != self.settings.open311_jurisdiction_id:
            raise PhananhError(ErrorCode.NOT_FOUND,
                               f"jurisdiction_id {given!r} not found; this server serves "
                               f"{self.settings.open311_jurisdiction_id!r}.")

    async def discovery(self, request: Request, query: Params) -> Document:
        return "discovery", {
            "changeset": mapping.CHANGESET,
            "contact": self.settings.open311_contact,
            "key_service": "API keys are issued per application by the city's operators "
                           "(phananh open311 keys issue).",
            "endpoints": [{
                "specification": mapping.SPECIFICATION,
                "url": str(request.base_url).rstrip("/") + PREFIX,
                "changeset": mapping.CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }],
        }

    async def services(self, request: Request, query: Params) -> Document:
        """The categories in service (retired ones are not offered)."""
        self._jurisdiction(query)
        return "services", await read(self.engine, self._services)

    @staticmethod
    def _services(conn: Connection) -> list[dict[str, Any]]:
        counts = catalogue_sql.attribute_counts(conn)
        return [mapping.service(c, counts.get(c.code, 0) > 0)
                for c in area_sql.categories(conn)]

    async def service_definition(self, request: Request, query: Params) -> Document:
        """A category's attributes; a retired category's too, as its requests still name it."""
        self._jurisdiction(query)
        code = request.path_params["code"]
        definition = await read(self.engine, self._definition, code=code)
        if definition is None:
            raise PhananhError(ErrorCode.UNKNOWN_CATEGORY, f"No service {code!r}; see "
                                                           f"services.")
        return "service_definition", definition

    @staticmethod
    def _definition(conn: Connection, code: str) -> dict[str, Any] | None:
        found = area_sql.categories_by_codes(conn, [code])
        if not found:
            return None
        return mapping.service_definition(found[0], attributes_for(conn, code))

    async def create(self, request: Request, query: Params) -> Document:
        form = await self._form(request, query)
        key_id = await read(self.engine, verify_key, key=params.single(form, "api_key"))
        self._jurisdiction(form)
        await self.limits.check(client_address(request), f"open311:{key_id}")
        where = params.point(form)
        if where is None:
            address = params.single(form, "address_string") or ""
            where = await read(self.engine, ward_named_in, address=address)
            if where is None:
                raise PhananhError(ErrorCode.OUTSIDE_JURISDICTION,
                                   "address_string names no ward served here; send lat "
                                   "and long.")
        # The spec has no retry-safe POST: an ``Idempotency-Key`` header (the IETF draft's
        # name) makes one, scoped to the API key so that applications never share keys.
        key = request.headers.get("idempotency-key") or None
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
            raise PhananhError(ErrorCode.BAD_INPUT, "The Idempotency-Key header takes at most "
                                                    f"{MAX_IDEMPOTENCY_KEY} characters.")
        submission = params.submission(form, *where,
                                       None if key is None else f"open311:{key_id}:{key}")
        await check_points(self.engine, [(submission.lon, submission.lat)])
        row = await write(self.engine, submit, submission=submission,
                          rules=FootprintRules.of(self.settings))
        agency = (await read(self.engine, mapping.agency_responsible, rows=[row]))[row.id]
        due = f" It is due by {w3(row.due_at)}." if row.due_at else ""
        return "service_requests", [{
            "service_request_id": row.public_id,
            "service_notice": f"Received and sent to {agency}.{due}",
            "account_id": None,
        }]

    async def _form(self, request: Request, query: Params) -> dict[str, list[str]]:
        """The url-encoded form, as the spec posts it (parameters in the query string count
        too, as many clients send api_key there)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise PhananhError(ErrorCode.UNSUPPORTED_FORMAT,
                               f"POST requests as {FORM} (UTF-8).")
        try:
            body = (await request.body()).decode()
        except UnicodeDecodeError:
            raise PhananhError(ErrorCode.BAD_INPUT, "The form is not UTF-8.") from None
        form = parse_qs(body, keep_blank_values=True)
        return {**query, **form}

    async def requests(self, request: Request, query: Params) -> Document:
        self._jurisdiction(query)
        return "service_requests", await read(self.engine, self._listing, query=query)

    def _listing(self, conn: Connection, query: Params) -> list[dict[str, Any]]:
        ids = params.request_ids(query)
        if ids:  # the spec: service_request_id overrides every other argument
            rows = complaint_sql.fetch_by_public_ids(conn, ids)
            rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        else:
            found = params.request_filter(query, datetime.now(UTC),
                                          self.settings.max_polygon_vertices)
            page = params.paging(query)
            rows = complaint_sql.fetch_offset(conn, found, page.limit, page.offset)
        return self._documents(conn, rows, params.single(query, "extensions") == "true")

    def _documents(self, conn: Connection, rows: list[Any],
                   extended: bool) -> list[dict[str, Any]]:
        """Rows as service requests: names, agencies and (extended) histories and places,
        each in one query for the whole page."""
        if not rows:
            return []
        names = {c.code: c.name_vi for c in area_sql.categories_by_codes(
            conn, sorted({r.category_code for r in rows}))}
        agencies = mapping.agency_responsible(conn, rows)
        documents = [mapping.service_request(r, names.get(r.category_code), agencies[r.id])
                     for r in rows]
        if extended:
            history: dict[int, list[Any]] = {r.id: [] for r in rows}
            for event in workflow_sql.events_for(conn, list(history)):
                history[event.complaint_id].append(event)
            area_ids = sorted({i for r in rows for i in (r.ward_id, r.district_id) if i})
            places = {a.id: a for a in area_sql.areas_by_ids(conn, area_ids)}
            for document, row in zip(documents, rows, strict=True):
                document.update(mapping.extensions(row, history[row.id], places))
        return documents

    async def request(self, request: Request, query: Params) -> Document:
        self._jurisdiction(query)
        public_id = request.path_params["id"]
        found = await read(self.engine, self._listing,
                           query={**query, "service_request_id": [public_id]})
        if not found:
            raise PhananhError(ErrorCode.NOT_FOUND, f"No service request {public_id!r}.")
        return "service_requests", found

    async def token(self, request: Request, query: Params) -> Document:
        self._jurisdiction(query)
        raise PhananhError(ErrorCode.NOT_FOUND,
                           f"No token {request.path_params['token']!r}: every service here is "
                           f"realtime, so a submission answers with its service_request_id "
                           f"and no token is ever issued.")

    async def updates(self, request: Request, query: Params) -> Document:
        """mySociety's servicerequestupdates: status changes and officials' comments in a
        time window (the same defaults as GET requests), oldest first."""
        self._jurisdiction(query)
        start, end = params.window(query, datetime.now(UTC))
        page = params.paging(query)
        events = await read(self.engine, workflow_sql.status_updates, start=start, end=end,
                            limit=page.limit, offset=page.offset)
        return "service_requests_updates", [mapping.request_update(e) for e in events]
