"""GraphQL types of the AI-assisted intake."""

from enum import Enum

import strawberry

from schema.catalogue import Agency, load_agency
from schema.types import Category, Complaint, Ctx


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
    agency_code: strawberry.Private[str | None]
    probability: float = strawberry.field(description=(
        "Calibrated probability that officials would file it so (source MODEL); with "
        "KEYWORDS, the share of matched keywords, not calibrated."))
    features: list[SuggestionFeature] = strawberry.field(description="What drove it, "
                                                                     "strongest first.")

    @strawberry.field
    async def category(self, info: Ctx) -> Category:
        return Category.from_row(await info.context.loaders.category.load(self.category_code))

    @strawberry.field(description="The agency the routing rules would give a complaint of this "
                                  "category at the point; null without a point.")
    async def agency(self, info: Ctx) -> Agency | None:
        return await load_agency(info, self.agency_code)


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
