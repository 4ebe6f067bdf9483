"""Reading an import file: its rows, each as golden record fields and what is wrong with it."""

import csv
import json
from collections.abc import Iterator

from finetunings import validation

FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CONTENT_TYPES = {"text/csv": "csv", "application/jsonl": "jsonl", "application/x-ndjson": "jsonl"}
EXTERNAL_ID_MAX_LENGTH = 200
# A row without a metadata column keeps the metadata of the record it updates.
MISSING = object()


def file_format(*, requested: str | None, filename: str, content_type: str) -> str | None:
    """The import format: the one asked for, else the file's extension or content type."""
    if requested:
        return requested if requested in FORMATS else None
    name = (filename or "").lower()
    for extension, found in EXTENSIONS.items():
        if name.endswith(extension):
            return found
    return CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())


class BadFile(Exception):
    """The file cannot be read on (not UTF-8, broken CSV): named with the line it stopped at."""


def binary_file(file):
    """The raw binary file behind a Django upload (or the file itself), from its start."""
    binary = getattr(file, "file", file)
    binary.seek(0)
    return binary


def _decoded_lines(binary) -> Iterator[str]:
    # Line by line rather than through a text wrapper, which decodes ahead in blocks and
    # so could not say on which line the file stops being UTF-8.
    for number, raw in enumerate(binary, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise BadFile(f"Line {number} is not UTF-8 text.") from None


def csv_rows(binary) -> Iterator[tuple[int, dict | str]]:
    reader = csv.reader(_decoded_lines(binary))
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [name.strip() for name in header]
        start = reader.line_num + 1
        for values in reader:
            if not values or values == [""]:
                start = reader.line_num + 1
                continue
            if len(values) != len(columns):
                yield start, (f"Has {len(values)} values; the header has {len(columns)} columns.")
            else:
                yield start, dict(zip(columns, values, strict=True))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BadFile(f"Line {reader.line_num}: not valid CSV ({exc}).") from None


def jsonl_rows(binary) -> Iterator[tuple[int, dict | str]]:
    for number, raw in enumerate(binary, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            yield number, "Not UTF-8 text."
            continue
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"Not valid JSON ({exc.args[0].split(':')[0]})."
            continue
        yield number, value if isinstance(value, dict) else "Must be a JSON object."


def _text(value, *, csv_cell: bool):
    """A cell's text, or None when it is empty."""
    if value is None or (csv_cell and value == ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def row_record(raw: dict, *, csv_row: bool) -> tuple[dict, dict[str, list[str]]]:
    """A row as golden record fields, and what is wrong with it."""
    problems: dict[str, list[str]] = {}
    question = raw.get("question", raw.get("prompt_text"))
    sql = raw.get("sql")
    # The SQL's length is checked with its parse (validation.sql_problems), as everywhere.
    for field, value, limit in (
        ("question", question, validation.QUESTION_MAX_LENGTH),
        ("sql", sql, None),
    ):
        if not isinstance(value, str) or not value.strip():
            problems[field] = ["Required: a non-empty text."]
        elif limit is not None and len(value) > limit:
            problems[field] = [f"Longer than {limit} characters."]
        elif "\x00" in value:
            problems[field] = ["Must not contain NUL characters."]

    external_id = _text(raw.get("external_id", raw.get("id")), csv_cell=csv_row)
    if external_id is not None and (
        not isinstance(external_id, str)
        or len(external_id) > EXTERNAL_ID_MAX_LENGTH
        or "\x00" in external_id
    ):
        problems["external_id"] = [
            f"Must be a text of at most {EXTERNAL_ID_MAX_LENGTH} characters."
        ]

    metadata = raw.get("metadata", MISSING)
    if csv_row and isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else None
        except ValueError:
            problems["metadata"] = ['Must be a JSON object such as {"team": "sales"}, or empty.']
    if metadata is not MISSING and "metadata" not in problems:
        problems["metadata"] = validation.metadata_problems(metadata)

    record = {
        "question": question,
        "sql": sql,
        "external_id": external_id,
        "metadata": metadata,
        "db_connection_id": _text(raw.get("db_connection_id"), csv_cell=csv_row),
    }
    return record, {field: messages for field, messages in problems.items() if messages}
