"""GraphQL types of the AI-assisted intake."""

from enum import Enum
from typing import Any

import strawberry

from schema.types import Area, Category, Complaint, Ctx, load_area


@strawberry.enum(description="What produced a suggestion.")
class SuggestionSource(Enum):
    MODEL = "MODEL"  # the category model trained on officials' decisions
    KEYWORDS = "KEYWORDS"  # the catalogue's keyword rules (cold start: no model yet)


@strawberry.type(description="A word or character sequence of the text that raised a "
                             "category's score, with its contribution.")
class SuggestionFeature:
    feature: str = strawberry.field(description=(
        "A word or word pair, \"…abc…\" for a character sequence (accents off), or a keyword."))
    weight: float = strawberry.field(description="Its contribution to the category's score.")


@strawberry.type
class CategorySuggestion:
    category_code: strawberry.Private[str]
    agency_id: strawberry.Private[int | None]
    probability: float = strawberry.field(description=(
        "Calibrated probability that officials would file it so (source MODEL); with "
        "KEYWORDS, the share of matched keywords, not calibrated."))
    features: list[SuggestionFeature] = strawberry.field(description="What drove it, "
                                                                     "strongest first.")

    @strawberry.field
    async def category(self, info: Ctx) -> Category:
        return Category.from_row(await info.context.loaders.category.load(self.category_code))

    @strawberry.field(description="The office the routing rules would give it to (today: the "
                                  "ward holding the point); null without a point.")
    async def agency(self, info: Ctx) -> Area | None:
        return await load_area(info, self.agency_id)


@strawberry.type
class CategorySuggestions:
    source: SuggestionSource
    model_version: int | None = strawberry.field(description="The model version that served "
                                                             "(null for keyword rules).")
    suggestions: list[CategorySuggestion]


@strawberry.type(description="A new complaint in the triage queue, with what the model "
                             "suggests for it.")
class TriageItem:
    complaint: Complaint
    suggestion: CategorySuggestions


@strawberry.type(description="An open complaint that may report the same problem.")
class DuplicateCandidate:
    candidate_id: strawberry.Private[str]
    score: float = strawberry.field(description=(
        "0–1, from distance, time apart, category and text similarity (`triage/duplicates.py`)."))
    distance_m: float
    hours_apart: float
    same_category: bool
    text_similarity: float = strawberry.field(description=(
        "Trigram similarity of the public descriptions, accents and case off (0–1)."))

    @strawberry.field
    async def complaint(self, info: Ctx) -> Complaint:
        context = info.context
        return Complaint.from_row(
            await context.loaders.complaint(context.principal).load(self.candidate_id))

    @classmethod
    def from_row(cls, row: Any) -> "DuplicateCandidate":
        return cls(candidate_id=row.candidate, score=float(row.score),
                   distance_m=float(row.distance_m), hours_apart=float(row.hours_apart),
                   same_category=bool(row.same_category),
                   text_similarity=float(row.text_similarity))
