"""What every service module shares: how problems found in a request are raised."""

from finetunings import errors


def raise_if(problems: dict[str, list[str]]) -> None:
    """Raise ``ValidationFailed`` with the fields that have problems; nothing if none has."""
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise errors.ValidationFailed(problems)


def refuse_unknown_fields(changes: dict, editable: frozenset[str], *, what: str) -> None:
    """An update names only fields its callers may change (never ``status`` and the like).

    A programming error, not a user's: the API and admin only pass their forms' fields.
    """
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise TypeError(f"Not editable on a {what}: {', '.join(unknown)}.")
