"""What Dagster 1.13 rejects when definitions are built, restated so a project is checked without importing it.

Importing Dagster costs about a second; ``seeknal-dagster validate`` and every ``load_project`` check the same
rules for free. Each rule names where Dagster states it (``dagster._core.definitions.utils``,
``dagster._utils.tags``, ``dagster._utils.schedules``); ``tests/test_validation.py`` compares our verdicts with
Dagster's own functions, so an upgrade that changes a rule fails a test instead of a user's code location.
"""

from __future__ import annotations

import keyword
import re
import zoneinfo
from typing import Sequence

#: ``VALID_NAME_REGEX`` and ``DISALLOWED_NAMES`` of ``dagster._core.definitions.utils``: op and output names.
_VALID_NAME = re.compile(r"^[A-Za-z0-9_]+\Z")
_DISALLOWED_NAMES = frozenset(
    {
        "context", "conf", "config", "meta", "arg_dict", "dict", "input_arg_dict", "output_arg_dict",
        "int", "str", "float", "bool", "input", "output", "type", *keyword.kwlist,
    }
)
#: ``VALID_GROUP_NAME_REGEX``: segments of ``[A-Za-z0-9_]+`` separated by ``/``.
_VALID_GROUP_NAME = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*\Z")
#: ``VALID_TAG_KEY_REGEX`` and ``VALID_STRICT_TAG_VALUE_REGEX`` of ``dagster._utils.tags`` (asset tags are strict).
_VALID_TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/|dagster/kind/)?[A-Za-z0-9_.-]{1,63}\Z")
_VALID_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}\Z")
#: ``is_valid_email`` of ``dagster._core.utils``.
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,7}\b")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
TAG_RULE = "letters, digits, '_', '-' and '.', at most 63 characters"


def output_name(key_parts: Sequence[str]) -> str:
    """The op output name Dagster derives from an asset key (``AssetKey.to_python_identifier``): two keys that
    give the same name cannot live in one multi_asset."""
    return "__".join(key_parts).replace("-", "_").replace(".", "_")


def name_problem(name: str) -> str | None:
    """Why Dagster would reject ``name`` as an op or output name, or ``None``."""
    if not _VALID_NAME.match(name):
        return f"'{name}' is not a valid Dagster name (letters, digits and '_' only)"
    if name in _DISALLOWED_NAMES:
        return f"'{name}' is reserved in Dagster (a Python keyword or a Dagster name)"
    return None


def group_problem(group: str) -> str | None:
    if not _VALID_GROUP_NAME.match(group):
        return f"'{group}' is not a valid Dagster group name (letters, digits and '_', segments separated by '/')"
    return None


def tag_problem(key: str, value: str) -> str | None:
    if not _VALID_TAG_KEY.match(key):
        return f"tag key '{key}' is not valid in Dagster ({TAG_RULE}, with an optional 'namespace/' prefix)"
    if not _VALID_TAG_VALUE.match(value):
        return f"tag value '{value}' (of '{key}') is not valid in Dagster ({TAG_RULE})"
    return None


def owner_for(owner: str) -> str:
    """The Dagster owner a Seeknal ``owner`` becomes: an e-mail or ``team:x`` as written, a bare name as a team."""
    return owner if "@" in owner or owner.startswith("team:") else f"team:{_TAG_UNSAFE.sub('_', owner)}"


def owner_problem(owner: str) -> str | None:
    """``is_valid_owner``: an e-mail address, or ``team:`` and a name."""
    dagster_owner = owner_for(owner)
    if _EMAIL.fullmatch(dagster_owner) or (dagster_owner.startswith("team:") and len(dagster_owner) > 5):
        return None
    return f"owner '{owner}' is neither an e-mail address nor a team name (write a@b.com, team:growth or growth)"


def tag_key_for(tag: str) -> str:
    """The asset tag key a Seeknal tag becomes (its value is empty)."""
    return _TAG_UNSAFE.sub("_", tag)[:63]


def cron_problem(expression: str) -> str | None:
    """``is_valid_cron_string`` of ``dagster._utils.schedules``: what croniter (which Dagster vendors) accepts, with
    five fields, not the 30th or 31st of February, and without croniter's newer ``W`` (nearest weekday) that
    Dagster's copy lacks."""
    from croniter import croniter

    problem = f"'{expression}' is not a cron expression Dagster accepts (five fields, e.g. \"0 6 * * *\")"
    if not croniter.is_valid(expression):
        return problem
    fields, *_ = croniter.expand(expression)
    if len(fields) != 5 or any("W" in part.upper() for part in expression.split()[2:3]):
        return problem
    if fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in (30, 31):
        return f"'{expression}' never fires: February has no {fields[2][0]}th"
    return None


def timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}' (an IANA name such as UTC or Europe/Berlin)"
    return None
