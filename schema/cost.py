"""What a GraphQL request asks for, measured on its document before any resolver runs.

Every measure is one pass over the document in which each fragment is read once, however often
it is spread: its value is remembered (:class:`Fold`). Measuring is therefore linear in the size
of the document, and a *fragment bomb* (40 fragments that each spread the next twice: 2^40
spreads in under 2 KB) is measured as fast as it is parsed. A spread that closes a cycle counts
as nothing here; graphql-core's NoFragmentCycles rule refuses such a document.

* **depth**: the deepest nesting of fields that have selections (introspection fields excluded),
  as strawberry's QueryDepthLimiter counted it;
* **aliases**: aliased fields, each counted as often as it is spread;
* **cost**: an estimate of the work, in *units*.

Units
-----
One unit is one row of work: a field resolved once, a complaint on a page, a point looked up, a
grid cell counted, one pair of neighbouring units of a Gi* analysis in one time step. A field
costs its own work plus, for every item it returns, the cost of what is selected under it: lists
nested in a page multiply by the page size, and aliased fields and repeated spreads add up.
:data:`COSTS` is the one table of fields whose work depends on their arguments; any other field
costs one unit and returns one item, or :data:`DEFAULT_ITEMS` items when it is a list.

* *cells* = the area analysed / the area of one cell. The area analysed is the smallest of the
  territory served (the largest generation's, :class:`Facts`) and the request's spatial
  restrictions (``bbox``, the filter's ``bbox``, the ``near`` disc, the bounding box of
  ``within``).
* a Gi* analysis (``hotspots``, ``emergingHotspots``) costs :data:`UNIT_WORK` per unit (a cell
  or an area), plus the pairs of neighbours it sums in every time step. A unit's *neighbours*
  are 1 + the band's disc / the area of a unit, or k + 1, at most all units; with ``k`` the
  nearest are searched among all units for each unit, units² more.
* *time steps* of ``emergingHotspots`` = the filter's time window (open ends: the first
  complaint, now) / 7 days (WEEK) or 28 days (MONTH, the shortest), and the pairs are worked
  on in every step.
* ``clusters`` costs the most points one request may cluster: only the data knows how many
  there are.
* A factor beyond the limit its resolver enforces (page size, batch size, units, steps, …)
  counts at that limit: the resolver refuses the rest itself.

Each caller's role has a budget (:func:`budget_for`); a request over it is refused with
``QUERY_TOO_COSTLY`` (see ``schema/extensions.py``).
"""

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import shapely.geometry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    coerce_input_value,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast_untyped,
)
from sqlalchemy import Connection, Engine, text

from analytics.grid import Grid, Shape
from analytics.hotspots import Unit, Weights
from auth.principal import OFFICIAL_ROLES, Principal, Role
from db.engine import read
from errors import ErrorCode, PhananhError
from settings import Settings

T = TypeVar("T")

DEFAULT_ITEMS = 25  # items of a list whose length no argument tells (categories, history, …)
EARTH_RADIUS_M = 6_371_008.8  # mean radius: areas of boxes on the sphere
UNKNOWN_TERRITORY_KM2 = 10_000.0  # no boundaries loaded yet: as large as a big city
PERIOD_DAYS = {"week": 7, "month": 28}
FACTS_TTL_S = 60.0
UNIT_WORK = 30  # building a unit of a Gi* analysis (a cell cut to the area, its shape, its z)


# --- One pass over a document, each fragment read once -------------------------------------

class Fold(Generic[T]):
    """A value per selection set, built from its fields' values by :meth:`combine`. A fragment's
    value is computed once and reused at every spread; a spread of a fragment being computed (a
    cycle) or of an unknown one counts as an empty selection."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.done: dict[str, T] = {}
        self.open: set[str] = set()

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> T:
        raise NotImplementedError

    def combine(self, values: list[T]) -> T:
        raise NotImplementedError

    def type_of(self, condition: NamedTypeNode | None,
                parent: GraphQLNamedType | None) -> GraphQLNamedType | None:
        """The type a fragment applies to (folds that need no types keep None)."""
        return None

    def selections(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> T:
        values = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                values.append(self.field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                values.append(self.selections(selection.selection_set,
                                              self.type_of(selection.type_condition, parent)))
            elif isinstance(selection, FragmentSpreadNode):
                values.append(self.spread(selection.name.value))
        return self.combine(values)

    def spread(self, name: str) -> T:
        if name not in self.done:
            fragment = self.fragments.get(name)
            if fragment is None or name in self.open:
                return self.combine([])
            self.open.add(name)
            self.done[name] = self.selections(fragment.selection_set,
                                              self.type_of(fragment.type_condition, None))
            self.open.discard(name)
        return self.done[name]


class Depth(Fold[int]):
    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        if node.selection_set is None or node.name.value.startswith("__"):
            return 0
        return 1 + self.selections(node.selection_set, None)

    def combine(self, values: list[int]) -> int:
        return max(values, default=0)


class Aliases(Fold[int]):
    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        inner = self.selections(node.selection_set, None) if node.selection_set else 0
        return (node.alias is not None) + inner

    def combine(self, values: list[int]) -> int:
        return sum(values)


# --- What the estimates know about the data ------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """The size of what is served, for analyses that do not say where they look."""

    territory_km2: float | None  # the largest territory of a generation (its top-level areas)
    areas: Mapping[str, int]  # level → the most areas of that level in one generation
    first_complaint: datetime | None


FACTS = text("""
    SELECT (SELECT max(total) FROM (SELECT sum(area_km2) AS total FROM admin_area
                                    WHERE parent_id IS NULL GROUP BY generation_id) AS t)
               AS territory_km2,
           (SELECT json_object_agg(level, n) FROM (
                SELECT level, max(n) AS n
                FROM (SELECT level, count(*) AS n FROM admin_area
                      GROUP BY generation_id, level) AS per_generation
                GROUP BY level) AS most) AS areas,
           (SELECT min(created_at) FROM complaint) AS first_complaint
""")


def read_facts(conn: Connection) -> Facts:
    row = conn.execute(FACTS).one()
    return Facts(row.territory_km2, row.areas or {}, row.first_complaint)


class FactsCache:
    """The facts, read again at most every :data:`FACTS_TTL_S` seconds: boundaries change by
    import, and the first complaint hardly ever. Only requests whose estimate needs them wait
    for the read."""

    def __init__(self) -> None:
        self.facts: Facts | None = None
        self.read_at = -math.inf

    async def get(self, engine: Engine) -> Facts:
        if self.facts is None or time.monotonic() - self.read_at > FACTS_TTL_S:
            self.facts = await read(engine, read_facts)
            self.read_at = time.monotonic()
        return self.facts


class FactsNeeded(Exception):
    """An estimate needs the facts, which were not read yet."""


@dataclass
class Env:
    settings: Settings
    now: datetime
    known: Facts | None = None

    @property
    def facts(self) -> Facts:
        if self.known is None:
            raise FactsNeeded
        return self.known


# --- Arguments, read as an estimate asks for them -------------------------------------------

class Arguments:
    """A field's argument values, each coerced only when an estimate reads it: a batch of
    10,000 points is measured by its length, not converted once more before execution."""

    def __init__(self, definition: GraphQLField, node: FieldNode,
                 variables: dict[str, Any]) -> None:
        self.definition = definition
        self.given = {argument.name.value: argument.value for argument in node.arguments or ()}
        self.variables = variables

    def _raw(self, name: str) -> Any:
        node = self.given.get(name)
        return Undefined if node is None else value_from_ast_untyped(node, self.variables)

    def __getitem__(self, name: str) -> Any:
        argument = self.definition.args[name]
        raw = self._raw(name)
        if raw is Undefined:
            return None if argument.default_value is Undefined else argument.default_value
        value = coerce_input_value(raw, argument.type)
        if value is Undefined:
            raise GraphQLError(f"{name} is not valid")  # execution refuses the request
        return value

    def length(self, name: str) -> int:
        node = self.given.get(name)
        if isinstance(node, ListValueNode):
            return len(node.values)
        raw = self.variables.get(node.name.value) if isinstance(node, VariableNode) else None
        return len(raw) if isinstance(raw, list) else 1


# --- The estimates --------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    own: float  # units of the field's own work
    items: float = 1.0  # how many times what is selected under it is resolved


Estimator = Callable[[Arguments, Env], Estimate]


def box_m2(box: Mapping[str, float]) -> float:
    """Area of a lon/lat box on the sphere: R² · Δλ · (sin φ_north − sin φ_south)."""
    west, south, east, north = (math.radians(box[k]) for k in ("west", "south", "east", "north"))
    return max(0.0, EARTH_RADIUS_M**2 * (east - west) * (math.sin(north) - math.sin(south)))


def _within_m2(geojson: Any) -> float:
    west, south, east, north = shapely.geometry.shape(geojson).bounds
    return box_m2({"west": west, "south": south, "east": east, "north": north})


def analysed_m2(args: Arguments, env: Env, bbox: str | None = None) -> float:
    """The area an analysis covers: the smallest of the territory and the request's spatial
    restrictions (with no boundaries loaded, a large city's territory)."""
    spatial = args["filter"] or {}
    territory = env.facts.territory_km2
    found = [box_m2(b) for b in (args[bbox] if bbox else None, spatial.get("bbox")) if b]
    if spatial.get("near"):
        found.append(math.pi * spatial["near"]["radiusM"] ** 2)
    if spatial.get("within"):
        try:
            found.append(_within_m2(spatial["within"]))
        except Exception:  # not a polygon: its resolver refuses it
            found.append(0.0)
    if territory is not None or not found:
        found.append((UNKNOWN_TERRITORY_KM2 if territory is None else territory) * 1e6)
    return min(found)


def _cell_m2(args: Arguments) -> float | None:
    """The area of one grid cell; None for a size the grid refuses."""
    if args["cellSizeM"] is None:
        return None
    try:
        return Grid(Shape(args["shape"]), args["cellSizeM"], srid=0).cell_area_m2
    except PhananhError:
        return None


def gi_work(args: Arguments, env: Env) -> tuple[float, float, float]:
    """(units, work done once) of a Gi* analysis, and the neighbour pairs it sums in each time
    step; zeros for arguments it refuses."""
    weights = Weights(band_m=args["distanceBandM"], k=args["k"])
    try:
        weights.check()
    except PhananhError:
        return 0.0, 0.0, 0.0
    if args["unit"] is Unit.GRID:
        unit_m2 = _cell_m2(args)
        if unit_m2 is None:
            return 0.0, 0.0, 0.0
        units = min(analysed_m2(args, env) / unit_m2, env.settings.max_hotspot_units)
    else:
        units = env.facts.areas.get("district" if args["unit"] is Unit.DISTRICT else "ward", 0)
        unit_m2 = analysed_m2(args, env) / max(units, 1)
    if weights.k is not None:  # the nearest units are searched among all of them, per unit
        return units, UNIT_WORK * units + units * units, units * min(weights.k + 1.0, units)
    neighbours = 1 + math.pi * weights.band_m**2 / unit_m2  # type: ignore[operator]
    return units, UNIT_WORK * units, units * min(neighbours, units)


def _instant(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def time_steps(args: Arguments, env: Env) -> float:
    """Periods in the filter's time window (open ends: the first complaint, now)."""
    window = args["filter"] or {}
    start = _instant(window.get("createdFrom")) or env.facts.first_complaint
    end = _instant(window.get("createdTo")) or env.now
    if start is None or end <= start:
        return 0.0
    days = (end - start).total_seconds() / 86_400
    return min(math.floor(days / PERIOD_DAYS[args["period"].value]) + 1,
               env.settings.max_time_steps + 1)


def hotspots(args: Arguments, env: Env) -> Estimate:
    units, once, pairs = gi_work(args, env)
    return Estimate(1 + once + pairs, units)


def emerging_hotspots(args: Arguments, env: Env) -> Estimate:
    units, once, pairs = gi_work(args, env)
    return Estimate(1 + once + pairs * time_steps(args, env), units)


def grid(args: Arguments, env: Env) -> Estimate:
    cell_m2 = _cell_m2(args)
    return rows(0.0 if cell_m2 is None else min(analysed_m2(args, env, bbox="bbox") / cell_m2,
                                                env.settings.max_grid_cells + 1))


def rows(count: float) -> Estimate:
    """A list of ``count`` rows, each resolved with what is selected under it."""
    return Estimate(1 + count, count)


def area_count(env: Env, level: str | None) -> int:
    """How many areas of ``level`` (None: of every level) a generation has, at most."""
    areas = env.facts.areas
    return areas.get(level, 0) if level else sum(areas.values())


def areas_of_level(args: Arguments, env: Env) -> Estimate:
    level = args["level"]
    return rows(area_count(env, level.value if level else None))


def areas_of(level: str) -> Estimator:
    return lambda args, env: rows(area_count(env, level))


def page(args: Arguments, env: Env) -> Estimate:
    return rows(min(max(args["first"], 0), env.settings.max_page_size))


def batch(args: Arguments, env: Env) -> Estimate:
    return rows(min(args.length("points"), env.settings.max_batch_points))


def clusters(args: Arguments, env: Env) -> Estimate:
    """DBSCAN's work grows with the points clustered, which only the data knows: the most one
    request may cluster."""
    return Estimate(env.settings.max_cluster_points, DEFAULT_ITEMS)


def counted_by_parent(args: Arguments, env: Env) -> Estimate:
    """The rows of a result whose field already counted them (a page's edges, an analysis's
    features): what is selected under each is multiplied once, by the parent."""
    return Estimate(1, 1)


COSTS: dict[str, Estimator] = {
    "Query.complaints": page,
    "Query.triageQueue": page,
    "Complaint.possibleDuplicates": page,
    "Query.similarComplaints": page,
    "ComplaintConnection.edges": counted_by_parent,
    "ComplaintConnection.nodes": counted_by_parent,
    "Query.jurisdictions": batch,
    "Query.areas": areas_of_level,
    "Query.areaStats": areas_of_level,
    "AreaStats.areas": counted_by_parent,
    "Query.grid": grid,
    "Grid.cells": counted_by_parent,
    "Query.clusters": clusters,
    "Clusters.clusters": counted_by_parent,
    "Query.hotspots": hotspots,
    "Hotspots.features": counted_by_parent,
    "Query.emergingHotspots": emerging_hotspots,
    "EmergingHotspots.features": counted_by_parent,
    "Stats.byWard": areas_of("ward"),
    "Stats.byDistrict": areas_of("district"),
    # A scalar, but it reads what byWard and byDistrict read (the durations of every area).
    "Stats.areaDurationsAsOf": areas_of("ward"),
}


class Cost(Fold[float]):
    """The estimated cost of selection sets, in units (see the module's docstring)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: dict[str, Any], env: Env) -> None:
        super().__init__(document)
        self.schema = schema
        self.variables = variables
        self.env = env

    def type_of(self, condition: NamedTypeNode | None,
                parent: GraphQLNamedType | None) -> GraphQLNamedType | None:
        return parent if condition is None else self.schema.get_type(condition.name.value)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> float:
        name = node.name.value
        fields = getattr(parent, "fields", {})
        if name.startswith("__") or name not in fields:  # introspection: bounded by the schema
            return 1.0
        definition: GraphQLField = fields[name]
        estimator = COSTS.get(f"{parent.name}.{name}")  # type: ignore[union-attr]
        if estimator is None:
            many = is_list_type(get_nullable_type(definition.type))  # type: ignore[arg-type]
            estimate = Estimate(1, DEFAULT_ITEMS if many else 1)
        else:
            try:
                estimate = estimator(Arguments(definition, node, self.variables), self.env)
            except GraphQLError:  # an invalid argument: the request will not run
                return 1.0
        if node.selection_set is None or estimate.items == 0:
            return estimate.own
        inner = self.selections(node.selection_set, get_named_type(definition.type))
        return estimate.own + estimate.items * inner

    def combine(self, values: list[float]) -> float:
        return sum(values)


def variables_with_defaults(operation: OperationDefinitionNode,
                            given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request's variables, as sent, with the operation's defaults for those not sent."""
    found = {d.variable.name.value: value_from_ast_untyped(d.default_value)
             for d in operation.variable_definitions or () if d.default_value is not None}
    return {**found, **(given or {})}


def operation_cost(schema: GraphQLSchema, document: DocumentNode,
                   operation: OperationDefinitionNode, variables: Mapping[str, Any] | None,
                   env: Env) -> int:
    """The estimated cost of ``operation`` (of a valid ``document``), in units."""
    root = schema.get_root_type(operation.operation)
    fold = Cost(schema, document, variables_with_defaults(operation, variables), env)
    return math.ceil(fold.selections(operation.selection_set, root))


async def request_cost(schema: GraphQLSchema, document: DocumentNode,
                       operation: OperationDefinitionNode, variables: Mapping[str, Any] | None,
                       settings: Settings, engine: Engine, facts: FactsCache) -> int:
    """:func:`operation_cost`, reading the facts only if the estimate needs them."""
    env = Env(settings, datetime.now(UTC))
    try:
        return operation_cost(schema, document, operation, variables, env)
    except FactsNeeded:
        env.known = await facts.get(engine)
        return operation_cost(schema, document, operation, variables, env)


def budget_for(principal: Principal | None, settings: Settings) -> int:
    """The most units one request of this caller may cost."""
    if principal is None:
        return settings.cost_budget_anonymous
    if principal.role is Role.ANALYST:
        return settings.cost_budget_analyst
    if principal.role in OFFICIAL_ROLES:
        return settings.cost_budget_official
    return settings.cost_budget_citizen


def too_costly(cost: int, budget: int) -> PhananhError:
    return PhananhError(
        ErrorCode.QUERY_TOO_COSTLY,
        f"This request would cost about {cost:,} units, over your budget of {budget:,}: ask "
        f"for less (a smaller area or page, larger cells, a narrower band, a shorter time "
        f"window, fewer aliased fields).", cost=cost, budget=budget)
