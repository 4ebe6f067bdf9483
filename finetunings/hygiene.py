"""The one check of text that comes in: no NUL characters, no unpaired UTF-16 surrogates.

JSON may spell either (``"\\u0000"``, ``"\\ud800"``) and Python decodes them into a ``str``
that PostgreSQL refuses (NUL in text or jsonb, surrogates in jsonb), that cannot be encoded
as UTF-8 (so a response quoting it fails), and that SQLite's JSON columns keep escaped, to
fail every later read. The API's JSON parser and the services' metadata check both call
``unsafe_text_path``, so keys and values of every body are checked in one place.
"""

import json
import re

UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSAFE_TEXT_MESSAGE = (
    "Text must not contain NUL characters or unpaired UTF-16 surrogates (\\ud800-\\udfff)."
)
UNSAFE_KEY_MESSAGE = (
    "Keys must not contain NUL characters or unpaired UTF-16 surrogates (\\ud800-\\udfff)."
)


def has_unsafe_text(text: str) -> bool:
    return UNSAFE_TEXT.search(text) is not None


def unsafe_text_path(data) -> tuple[str, str] | None:
    """``(dotted path, message)`` of the first unsafe string in ``data``, keys included.

    Walks with an explicit stack: a body may be nested as deeply as the JSON parser allows.
    """
    if not _may_hold_unsafe_text(data):
        return None
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if has_unsafe_text(value):
                return path, UNSAFE_TEXT_MESSAGE
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and has_unsafe_text(key):
                    return path, UNSAFE_KEY_MESSAGE
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), item)
                for index, item in enumerate(value)
            )
    return None


def _may_hold_unsafe_text(data) -> bool:
    """False when no text in ``data`` can hold an unsafe character, found in one pass in C.

    The walk costs a bulk create of 10,000 records more than its parse. ``json.dumps``
    writes NUL as ``\\u0000`` (a text's own backslash doubled, so at worst a false alarm)
    and, with ``ensure_ascii=False``, a surrogate as itself.
    """
    try:
        text = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not plain JSON data, or deep: walk
        return True
    return "\\u0000" in text or (not text.isascii() and has_unsafe_text(text))


def replace_unsafe_text(text: str) -> str:
    """``text`` with each unsafe character replaced by U+FFFD, for showing stored data."""
    return UNSAFE_TEXT.sub("\ufffd", text)


# A JSON escape of a surrogate (``\ud800``): only text holding one can decode to a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _replace_unsafe(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in list(item):
                child = item.pop(key)
                new_key = replace_unsafe_text(key) if isinstance(key, str) else key
                item[new_key] = replace_unsafe_text(child) if isinstance(child, str) else child
                stack.append(item[new_key])
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, str):
                    item[index] = replace_unsafe_text(child)
                else:
                    stack.append(child)
    return replace_unsafe_text(value) if isinstance(value, str) else value


class StoredJSONDecoder(json.JSONDecoder):
    """Reads stored JSON with each lone surrogate shown as U+FFFD.

    A row that holds one (SQLite keeps it escaped) could otherwise never be rendered: every
    list, detail and admin page containing it would answer 500. Paired surrogates (emoji,
    escaped by ``json.dumps``) decode to one character and are left alone.
    """

    def decode(self, s, *args, **kwargs):
        value = super().decode(s, *args, **kwargs)
        if _SURROGATE_ESCAPE.search(s) is None:
            return value
        return _replace_unsafe(value)
