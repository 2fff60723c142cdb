"""Limits on text input, shared by GraphQL's inputs, Open311's parameters and the layers'
routes. A module of its own, without strawberry, so that the layers (and the ``phananh``
commands that export them) do not import the GraphQL schema to check a search text."""

from errors import ErrorCode, PhananhError

MAX_SEARCH_CHARS = 200


def clean_text(name: str, value: str | None, low: int, high: int) -> str | None:
    """``value`` stripped of surrounding white space, within ``low``..``high`` characters as
    stored (a limit measured on the stripped text but storing the raw one let 1.9 MB of spaces
    through); None stays None. The one home of text limits on input."""
    if value is None:
        return None
    stripped = value.strip()
    if not low <= len(stripped) <= high:
        raise PhananhError(ErrorCode.BAD_INPUT, f"{name} must be {low} to {high} characters.")
    return stripped
