"""Type checks of the training and recording configs (dataclasses), field by field, as the command line fills them.

The command line checks an override against its default's type; a field whose default is null (``max_minutes``,
``init_from``) has no default type to check against, so the dataclass annotations decide: ``check_config`` raises a
one-line ``ValueError`` naming the field, what it takes and what came.
"""

from __future__ import annotations

import dataclasses
import types
import typing

_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
          dict: "a section of settings", tuple: "a list", type(None): "null"}  # fmt: skip


def _fits(value, kind) -> bool:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, k) for k in typing.get_args(kind))
    if kind is typing.Any:
        return True
    base = origin or kind
    if base is type(None):
        return value is None
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base in (list, tuple):
        return isinstance(value, (list, tuple))
    if base is dict:
        return isinstance(value, dict)
    if base is str:
        return isinstance(value, str)
    return isinstance(value, base) if isinstance(base, type) else True


def _describe(kind) -> str:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(k) for k in typing.get_args(kind))
    base = typing.get_origin(kind) or kind
    return _NAMES.get(base, getattr(base, "__name__", str(base)))


def check_config(config, prefix: str = "") -> None:
    """ValueError naming the first field of the dataclass ``config`` (and of the dataclasses inside it) whose value
    is not of its annotated type."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_config(value, f"{prefix}{f.name}.")
            continue
        kind = hints.get(f.name, typing.Any)
        if not _fits(value, kind):
            raise ValueError(f"{prefix}{f.name} must be {_describe(kind)}, got {value!r}")
