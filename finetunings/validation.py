"""Business-rule checks shared by the services: metadata limits, model parameters, SQL.

Each check returns a list of human messages (empty when the value is fine), so a service
can collect every problem of a request and report them together.
"""

import math
import re
from collections import Counter
from urllib.parse import urlsplit

import sqlglot
from django.conf import settings
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
GOLDEN_RECORDS_MINIMUM = 10
# The most golden record ids one job may list (a job on every record of a connection has
# no such limit: it lists none and takes them all).
GOLDEN_RECORDS_MAXIMUM = 100_000
# Messages that name ids name at most this many, so a 400 stays readable.
IDS_SHOWN = 10

# Ranges the provider accepts (OpenAI's fine-tuning hyperparameters). Each parameter may
# also be "auto", and numbers may come as strings such as "3" (the seed documentation does).
MODEL_PARAMETER_RULES = {
    "n_epochs": {"type": int, "min": 1, "max": 50},
    "batch_size": {"type": int, "min": 1, "max": 256},
    "learning_rate_multiplier": {"type": float, "min_exclusive": 0, "max": 10},
}

# Our dialect names -> sqlglot's.
SQLGLOT_DIALECTS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "mssql": "tsql",
    "redshift": "redshift",
    "databricks": "databricks",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "clickhouse": "clickhouse",
}

# Statements a golden record may hold: queries and data changes, not DDL or bare words.
_ACCEPTED_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _short(value, length: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= length else f"{text[:length]}…"


def name_ids(ids: list[str]) -> str:
    """Ids for a message: the first few, and how many more there are."""
    shown = ", ".join(ids[:IDS_SHOWN])
    more = len(ids) - IDS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def metadata_problems(metadata) -> list[str]:
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["Must be an object whose keys and values are strings, or null."]
    problems = []
    if len(metadata) > METADATA_MAX_KEYS:
        problems.append(f"At most {METADATA_MAX_KEYS} keys are allowed; got {len(metadata)}.")
    for key, value in metadata.items():
        # PostgreSQL cannot store NUL characters in text or jsonb.
        if not isinstance(key, str) or "\x00" in key:
            problems.append(f"Key {_short(key)} must be a string without NUL characters.")
            continue
        if isinstance(value, str) and "\x00" in value:
            problems.append(f"The value of {key!r} must not contain NUL characters.")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            problems.append(
                f"Key {key[:20]!r}… is longer than {METADATA_MAX_KEY_LENGTH} characters."
            )
        if not isinstance(value, str):
            problems.append(f"The value of {key!r} must be a string.")
        elif len(value) > METADATA_MAX_VALUE_LENGTH:
            problems.append(
                f"The value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters."
            )
    return problems


def _as_number(value, kind):
    """The number a parameter value stands for, or None when it is not one of ``kind``."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            value = float(value.strip())
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        if kind is int:
            return int(value) if float(value).is_integer() else None
        return float(value)
    except (ValueError, OverflowError):  # "abc", or an integer too large for a float
        return None


def model_parameters_problems(parameters) -> dict[str, list[str]]:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        return {"": ["Must be an object."]}
    problems: dict[str, list[str]] = {}
    for name, value in parameters.items():
        rule = MODEL_PARAMETER_RULES.get(name)
        if rule is None:
            allowed = ", ".join(MODEL_PARAMETER_RULES)
            problems[name] = [f"Unknown model parameter; the supported ones are {allowed}."]
            continue
        if isinstance(value, str) and value.strip() == "auto":
            continue
        number = _as_number(value, rule["type"])
        kind = "a whole number" if rule["type"] is int else "a number"
        if number is None:
            problems[name] = [f'Must be {kind} or "auto"; got {_short(value)}.']
        elif "min" in rule and not rule["min"] <= number <= rule["max"]:
            problems[name] = [
                f"Must be between {rule['min']} and {rule['max']}; got {_short(value)}."
            ]
        elif "min_exclusive" in rule and not rule["min_exclusive"] < number <= rule["max"]:
            problems[name] = [
                f"Must be greater than {rule['min_exclusive']} and at most {rule['max']}; "
                f"got {_short(value)}."
            ]
    return problems


SANDBOX_OFF_MESSAGE = (
    "The sandbox provider is turned off here (FINETUNING_SANDBOX_ENABLED); use a real provider."
)


def base_llm_problems(model_provider: str, model_name: str) -> dict[str, list[str]]:
    allowed_models = settings.FINETUNING_ALLOWED_MODELS
    if model_provider == "sandbox" and not settings.FINETUNING_SANDBOX_ENABLED:
        return {"model_provider": [SANDBOX_OFF_MESSAGE]}
    if model_provider not in allowed_models or model_provider not in settings.FINETUNING_PROVIDERS:
        supported = ", ".join(sorted(allowed_models))
        return {"model_provider": [f"Unsupported provider {model_provider!r}; use {supported}."]}
    if model_name not in allowed_models[model_provider]:
        return {
            "model_name": [
                f"Model {model_name!r} cannot be fine-tuned with {model_provider}; the supported "
                f"models are {', '.join(allowed_models[model_provider])}."
            ]
        }
    return {}


# sqlglot's messages name its own classes and tokens ("Required keyword: 'expression'
# missing for <class 'sqlglot.expressions.core.Mul'>"): say the same in the SQL's words.
_MISSING_PART = re.compile(r"^Required keyword: '\w+' missing for <class '[\w.]+'>")
_TOKEN = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+.*?>")
_CLASS = re.compile(r"<class '(?:[\w]+\.)*(\w+)'>")
_TOKENIZING_CONTEXT = re.compile(r"Error tokenizing '(.*)'", re.S)
_END_TOKENS = {"SENTINEL", "EOF"}


def _token_words(match: re.Match) -> str:
    kind, text = match.groups()
    return "the end of the SQL" if kind in _END_TOKENS else repr(text)


def plain_parse_error(description: str, highlight: str) -> str:
    """A parser message in plain words: what is wrong, near which words, no class names."""
    if _MISSING_PART.match(description):
        return f"something is missing after {highlight!r}" if highlight else "it is incomplete"
    if description == "Invalid expression / Unexpected token":
        return f"unexpected {highlight!r}" if highlight else "unexpected words"
    if description.startswith("Expecting "):
        return f"expected {description.removeprefix('Expecting ')!r} near {highlight!r}"
    description = _TOKEN.sub(_token_words, description)
    description = _CLASS.sub(
        lambda m: re.sub(r"(?<!^)(?=[A-Z])", " ", m.group(1)).lower(), description
    )
    return description[:1].lower() + description[1:]


def sql_problems(sql: str, dialect: str) -> list[str]:
    """Why ``sql`` is not one valid statement in ``dialect`` (empty when it is)."""
    read = SQLGLOT_DIALECTS.get(dialect, dialect)
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except RecursionError:
        return ["The SQL is nested too deeply to parse."]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = ""
        if first.get("line"):
            where = f" at line {first['line']}, column {first.get('col')}"
        description = first.get("description") or str(exc).splitlines()[0]
        plain = plain_parse_error(description, first.get("highlight") or "")
        return [f"The SQL does not parse as {dialect}{where}: {plain}."]
    except TokenError as exc:
        near = _TOKENIZING_CONTEXT.search(str(exc))
        context = f" near {near.group(1)!r}" if near else ""
        return [
            f"The SQL does not parse as {dialect}: it cannot be read{context} "
            "(a quote or comment left open?)."
        ]
    except Exception:
        # sqlglot raises plain IndexError/AttributeError/ValueError on some malformed input;
        # any of them means the same to the user: this SQL cannot be read.
        return [f"The SQL does not parse as {dialect}."]
    if not statements:
        return ["The SQL is empty."]
    if len(statements) > 1:
        return [f"Expected one SQL statement; found {len(statements)}."]
    if not isinstance(statements[0], _ACCEPTED_STATEMENTS):
        return [f"The SQL does not parse as {dialect} to a query or data statement."]
    return []


URI_INVALID = (
    "Not a valid URI: check its form, and percent-encode special characters such as "
    "# / ? @ in the password."
)


def connection_uri_problems(uri: str) -> list[str]:
    example = "postgresql://user:password@host:5432/database"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        # urlsplit's message quotes what it could not parse, which can be part of the
        # password (a "#" in it ends the host part early): say nothing of the URI.
        return [URI_INVALID]
    if not parts.scheme or not (parts.netloc or parts.path):
        return [f"Must be a URI such as {example}."]
    if "\x00" in uri:
        return ["Must not contain NUL characters."]
    return []


def repeated(ids: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(ids).items() if count > 1)
