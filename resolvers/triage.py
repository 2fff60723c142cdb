"""Resolvers of the AI-assisted intake: thin, the work is ``triage.service``'s."""

import anyio
import strawberry

from db.engine import read
from errors import ErrorCode, PhananhError
from resolvers.points import check_points
from schema.inputs import clean_text
from schema.triage import (
    CategorySuggestion,
    CategorySuggestions,
    SuggestionFeature,
    SuggestionSource,
)
from schema.types import Ctx
from triage.routing import agencies_for
from triage.service import suggester

MAX_SUGGESTIONS = 15


@strawberry.type
class TriageQuery:
    @strawberry.field(description=(
        "Likely categories for a description, best first, each with its probability, the "
        "office that would receive it and the words that drove it. Citizens see it while "
        "typing; officials in triage. Give lon/lat for the office."))
    async def suggest_categories(self, info: Ctx, description: str, lon: float | None = None,
                                 lat: float | None = None, first: int = 3
                                 ) -> CategorySuggestions:
        context = info.context
        text = clean_text("description", description, 1, 5_000) or ""
        if not 1 <= first <= MAX_SUGGESTIONS:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"`first` must be between 1 and {MAX_SUGGESTIONS}.")
        if (lon is None) != (lat is None):
            raise PhananhError(ErrorCode.BAD_INPUT, "Give both lon and lat, or neither.")
        served = await anyio.to_thread.run_sync(
            suggester(context.engine, context.settings).suggest, text, first)
        codes = [s.category for s in served.items]
        agencies: dict[str, int | None] = dict.fromkeys(codes)
        if lon is not None and lat is not None and codes:
            await check_points(context.engine, [(lon, lat)])
            agencies = await read(context.engine, agencies_for, categories=codes, lon=lon,
                                  lat=lat)
        return CategorySuggestions(
            source=SuggestionSource(served.source.value), model_version=served.model_version,
            suggestions=[CategorySuggestion(
                category_code=s.category, agency_id=agencies[s.category],
                probability=s.probability,
                features=[SuggestionFeature(feature=f, weight=w) for f, w in s.features])
                for s in served.items])
