"""Execution with a compiled path for lists of plain objects.

A page of 100 complaints has about 1,400 fields. graphql-core completes each one generically:
a path, a resolve-info object, strawberry's resolver wrapper, a run through ``complete_value``
and its type checks, an awaitable check. For a list of objects whose selection holds only
fields without arguments (attributes, and resolvers that answer at once), that work is known
before the first item: the selection is compiled once per request into a plan, and each item
is completed by the plan.

The plan does what the regular path does, field by field and in the same order: strawberry's
default resolver (``getattr``) for fields without a resolver, the field's own resolve function
(strawberry's wrapper, so permissions and extensions apply) with the same resolve info for the
others, then the type's ``serialize`` for leaves. Anything it does not handle the same way
(an awaitable answer, an error, a null where the schema says non-null, a value the scalar
refuses) drops the whole list back to graphql-core's regular path, which completes it again
from the start and reports errors with their paths: a plan never answers differently, it only
answers sooner. Resolvers must therefore be safe to call twice, as graphql-core itself assumes
of fields that are repeated or re-executed.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class Fallback(Exception):  # a signal, not an error
    """The plan cannot complete this list as graphql-core would: use the regular path."""


Completion = Callable[["CompiledExecutor", Any, Path], Any]  # (executor, value, path) → answer
Resolve = Callable[["CompiledExecutor", Any, Path], Any]  # (executor, source, path) → value


@dataclass(frozen=True)
class Step:
    """One field of an object's plan: how to get its value, then how to complete it."""

    name: str  # the response key
    resolve: Resolve
    complete: Completion


@dataclass(frozen=True)
class ObjectPlan:
    """How to complete one object of a type for one selection."""

    type_: GraphQLObjectType
    steps: tuple[Step, ...]

    def complete(self, executor: "CompiledExecutor", source: Any, path: Path) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        type_name = self.type_.name
        for step in self.steps:
            field_path = Path(path, step.name, type_name)
            value = step.resolve(executor, source, field_path)
            if executor.is_awaitable(value):
                close = getattr(value, "close", None)
                if close is not None:
                    close()  # a coroutine never awaited: the regular path makes its own
                raise Fallback
            answer[step.name] = step.complete(executor, value, field_path)
        return answer


def _attribute(read: Callable[[Any, str], Any], attribute: str) -> Resolve:
    """A field without a resolver: strawberry's default resolver, as its basic fields use."""
    return lambda _executor, source, _path: read(source, attribute)


def _through(field_def: GraphQLField, parent: GraphQLObjectType, nodes: list[Any]) -> Resolve:
    """The field's resolve function as graphql-core calls it (strawberry's wrapper)."""
    def resolve(executor: "CompiledExecutor", source: Any, path: Path) -> Any:
        info = executor.build_resolve_info(field_def, nodes, parent, path)
        return field_def.resolve(source, info)  # type: ignore[misc]

    return resolve


def _direct(definition: StrawberryField, field_def: GraphQLField, parent: GraphQLObjectType,
            nodes: list[Any], info_class: type) -> Resolve:
    """A strawberry resolver without arguments, extensions or permissions, called with what
    strawberry's wrapper would pass it (self, root or parent, info), without the wrapper."""
    resolver = definition.base_resolver
    assert resolver is not None
    takes_self = resolver.self_parameter is not None
    source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def resolve(executor: "CompiledExecutor", source: Any, path: Path) -> Any:
        kwargs = dict.fromkeys(source_names, source)
        if info_name is not None:
            raw = executor.build_resolve_info(field_def, nodes, parent, path)
            kwargs[info_name] = info_class(_raw_info=raw, _field=definition)
        return resolver(source, **kwargs) if takes_self else resolver(**kwargs)

    return resolve


def _leaf(type_: GraphQLLeafType) -> Completion:
    serialize = type_.serialize
    as_sent = _AS_SENT.get(serialize)

    def complete(_executor: "CompiledExecutor", value: Any, _path: Path) -> Any:
        if value is None:
            return None
        if as_sent is not None and as_sent(value):
            return value
        answer = serialize(value)
        if answer is None or answer is Undefined:
            raise Fallback
        return answer

    return complete


def _non_null(inner: Completion) -> Completion:
    def complete(executor: "CompiledExecutor", value: Any, path: Path) -> Any:
        answer = inner(executor, value, path)
        if answer is None:
            raise Fallback
        return answer

    return complete


def _object(plan: ObjectPlan) -> Completion:
    def complete(executor: "CompiledExecutor", value: Any, path: Path) -> Any:
        return None if value is None else plan.complete(executor, value, path)

    return complete


def _list(item: Completion, as_sent: Callable[[list[Any]], bool] | None = None) -> Completion:
    def complete(executor: "CompiledExecutor", value: Any, path: Path) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise Fallback
        if as_sent is not None and type(value) is list and as_sent(value):
            return value
        return [item(executor, v, path.add_key(i, None)) for i, v in enumerate(value)]

    return complete


_INT_RANGE = range(-2**31, 2**31)  # GraphQL's Int: 32 bits


def _is_int(value: Any) -> bool:
    return type(value) is int and value in _INT_RANGE


def _is_float(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)


def _is_str(value: Any) -> bool:
    return type(value) is str


# The Python values a built-in scalar sends as they are (an int in range is an Int, a finite
# float a Float, a str a String), per its ``serialize`` (strawberry's Int, Float and String
# use graphql-core's): those skip ``serialize``.
_AS_SENT: dict[Any, Callable[[Any], bool]] = {
    GraphQLInt.serialize: _is_int, GraphQLFloat.serialize: _is_float,
    GraphQLString.serialize: _is_str}


def _items_as_sent(item_type: GraphQLOutputType) -> Callable[[list[Any]], bool] | None:
    """For a list of a built-in scalar: a test that its items are already what ``serialize``
    returns for each (or null where allowed), so that the list is answered as it is instead
    of item by item (an emerging hot spot answer holds three lists of a number per time step
    for each of its thousands of units)."""
    nullable = not isinstance(item_type, GraphQLNonNull)
    named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    as_sent = _AS_SENT.get(getattr(named, "serialize", None))
    if as_sent is None:
        return None
    return lambda values: all(as_sent(v) or (nullable and v is None) for v in values)


class CompiledExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, completing lists of plain objects by a plan (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per (type, selection): its plan, or None when it has none. The selection is kept
        # with it, so that its id is not reused during the request.
        self._plans: dict[tuple[str, int], tuple[FieldDetailsList, ObjectPlan | None]] = {}

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType],
                            field_details_list: FieldDetailsList, info: GraphQLResolveInfo,
                            path: Path, result: Any, position_context: Any) -> Any:
        item_type = return_type.of_type
        named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(result, list) and isinstance(named, GraphQLObjectType) \
                and not (self.middleware_manager and self.middleware_manager.middlewares) \
                and not self.get_stream_usage(field_details_list, path):
            plan = self._plan(named, field_details_list)
            if plan is not None:
                try:
                    return [plan.complete(self, item, path.add_key(index, None))
                            for index, item in enumerate(result)]
                except Exception:  # Fallback, or an error the regular path reports, located
                    pass
        return super().complete_list_value(return_type, field_details_list, info, path,
                                           result, position_context)

    def _plan(self, type_: GraphQLObjectType,
              field_details_list: FieldDetailsList) -> ObjectPlan | None:
        key = (type_.name, id(field_details_list))
        known = self._plans.get(key)
        if known is None:
            known = (field_details_list, self._compile(type_, field_details_list))
            self._plans[key] = known
        return known[1]

    def _compile(self, type_: GraphQLObjectType,
                 field_details_list: FieldDetailsList) -> ObjectPlan | None:
        """The plan for ``type_`` under this selection; None if a field needs the regular
        path (arguments, async resolvers, abstract types, deferred fragments)."""
        if type_.is_type_of is not None:
            return None
        grouped, deferred, _ = self.collect_subfields(type_, field_details_list)
        if deferred:
            return None
        steps = []
        for name, details in grouped.items():
            nodes = [d.node for d in details]
            field_def = self.schema.get_field(type_, nodes[0].name.value)
            if field_def is None or field_def.args or any(n.arguments for n in nodes):
                return None
            definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if isinstance(definition, StrawberryField) and definition.is_async:
                return None
            complete = self._completion(field_def.type, details)
            if complete is None:
                return None
            steps.append(Step(name, self._resolve(definition, field_def, type_, nodes),
                              complete))
        return ObjectPlan(type_, tuple(steps))

    def _resolve(self, definition: Any, field_def: GraphQLField, parent: GraphQLObjectType,
                 nodes: list[Any]) -> Resolve:
        """The quickest way to the field's value that is still the regular path's."""
        if not isinstance(definition, StrawberryField):  # __typename, or not strawberry's
            return _through(field_def, parent, nodes)
        if definition.is_basic_field and getattr(field_def.resolve, "_is_default", False):
            return _attribute(definition.default_resolver, definition.python_name)
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        converter = getattr(strawberry_schema, "schema_converter", None)
        handlers = getattr(converter, "_get_field_exception_handlers", None)
        if definition.base_resolver is not None and not definition.arguments \
                and not definition.extensions and handlers is not None \
                and not handlers(definition):
            return _direct(definition, field_def, parent, nodes,
                           strawberry_schema.config.info_class)  # type: ignore[union-attr]
        return _through(field_def, parent, nodes)

    def _completion(self, type_: GraphQLOutputType, details: FieldDetailsList
                    ) -> Completion | None:
        if isinstance(type_, GraphQLNonNull):
            inner = self._completion(type_.of_type, details)
            return None if inner is None else _non_null(inner)
        if isinstance(type_, GraphQLList):
            item = self._completion(type_.of_type, details)
            return None if item is None else _list(item, _items_as_sent(type_.of_type))
        if is_leaf_type(type_):
            return _leaf(type_)  # type: ignore[arg-type]
        if isinstance(type_, GraphQLObjectType):
            plan = self._plan(type_, details)
            return None if plan is None else _object(plan)
        return None  # interfaces and unions


@dataclass(frozen=True)
class Prebuilt:
    """A field's answer already built as the response's values (by one SQL statement,
    ``schema/page_json.py``), which :class:`SplicingExecutor` puts in the response as it is."""

    answer: Any


class SplicingExecutor(CompiledExecutor):
    """The compiled executor, which also takes :class:`Prebuilt` answers. It says so on the
    request's context (``takes_prebuilt``), so that resolvers build one only for an executor
    that takes it: under another one, they answer the regular way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if hasattr(self.context_value, "takes_prebuilt"):
            self.context_value.takes_prebuilt = True

    def complete_value(self, return_type: GraphQLOutputType,
                       field_details_list: FieldDetailsList, info: GraphQLResolveInfo,
                       path: Path, result: Any, position_context: Any) -> Any:
        if isinstance(result, Prebuilt):
            return result.answer
        return super().complete_value(return_type, field_details_list, info, path, result,
                                      position_context)
