"""Business-rule checks shared by the services: metadata limits, model parameters, SQL.

Each check returns a list of human messages (empty when the value is fine), so a service
can collect every problem of a request and report them together.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qsl

import sqlglot
from django.conf import settings
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from finetunings import hygiene

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
# A connection's schema goes into every training example; past this it would not fit any
# model's context anyway.
SCHEMA_MAX_LENGTH = 200_000
# Parsing SQL is the costliest thing a request can ask for (sqlglot reads some 20,000 to
# 50,000 characters a second, and a web process must answer within seconds): one golden
# record's SQL, and all the SQL of one request, are bounded before anything is parsed.
SQL_MAX_LENGTH = 20_000
SQL_MAX_TOTAL_LENGTH = 200_000
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
        # The API's parser refuses these already; the admin's JSON field does not.
        if not isinstance(key, str) or hygiene.has_unsafe_text(key):
            problems.append(f"Keys must be strings. {hygiene.UNSAFE_KEY_MESSAGE}")
            continue
        if isinstance(value, str) and hygiene.has_unsafe_text(value):
            problems.append(f"The value of {key!r}: {hygiene.UNSAFE_TEXT_MESSAGE}")
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
    if len(sql) > SQL_MAX_LENGTH:
        return [f"The SQL is longer than {SQL_MAX_LENGTH:,} characters."]
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


URI_EXAMPLE = "postgresql://user:password@host:5432/database"
URI_INVALID = (
    "Not a valid URI: check its form, and percent-encode special characters such as "
    "# / ? @ in the password."
)
URI_NOT_A_URI = f"Must be a URI such as {URI_EXAMPLE}."
URI_NUL = "Must not contain NUL characters."
URI_NOT_TEXT = "Must be valid Unicode text (it holds a lone surrogate)."
URI_SPACES = "Must not contain spaces or control characters: percent-encode them (a space is %20)."
URI_BAD_HOST = (
    "A host is not a valid host name, [IPv6 address] or host:port with a port from 1 to "
    "65535; several hosts are separated by commas (host1:5432,host2:5432)."
)
URI_AT_AFTER_HOST = (
    "An @ comes after the host: write user:password@host:port/database, and "
    "percent-encode / and @ in the user name and password (%2F, %40)."
)
URI_SCHEME_MISMATCH = "The URI's scheme {scheme}does not fit the dialect {dialect}; use {schemes}."

# The schemes (before any "+driver") a connection URI of each dialect may use, as
# SQLAlchemy and the dialects' own drivers spell them.
DIALECT_SCHEMES = {
    "postgresql": ("postgresql", "postgres"),
    "mysql": ("mysql", "mariadb"),
    "sqlite": ("sqlite",),
    "snowflake": ("snowflake",),
    "bigquery": ("bigquery",),
    "mssql": ("mssql", "sqlserver"),
    # Redshift speaks PostgreSQL's protocol, so its URIs often use that scheme.
    "redshift": ("redshift", "postgresql", "postgres"),
    "databricks": ("databricks",),
    "oracle": ("oracle",),
    "duckdb": ("duckdb",),
    "clickhouse": ("clickhouse", "clickhousedb"),
}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+._\-]*")
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+._\-]*)://(?P<rest>.*)", re.DOTALL)
_PORT = r"(?::(?P<port>[0-9]{1,5}))?"
_HOST = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+)" + _PORT)
# What a database part may hold to be shown as it is (a name or a file path); anything
# else is hidden, since only there could a misplaced secret hide.
_SHOWN_DATABASE = re.compile(r"[\w.\-~/:$]*")
_SHOWN_PARAMETER = re.compile(r"[\w.\-]{1,64}")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


class ConnectionURIInvalid(ValueError):
    """A URI that cannot be taken apart; its message never quotes the URI."""


@dataclass(frozen=True)
class ConnectionURI:
    """The parts of a connection URI, as far as the service needs them.

    Parsed by hand rather than with ``urlsplit``: libpq's multi-host form
    (``host1:5432,host2:5432``) is not a single host and port, and ``urlsplit`` neither
    checks host names nor keeps ``///`` apart from ``/``.
    """

    scheme: str
    has_credentials: bool
    hosts: tuple[tuple[str, str], ...]  # (host, port), port "" when absent
    database: str  # the path after the hosts, with its leading "/"
    parameter_names: tuple[str, ...]

    @property
    def scheme_base(self) -> str:
        return self.scheme.split("+", 1)[0].lower()


def parse_connection_uri(uri: str) -> ConnectionURI:
    if "\x00" in uri:
        raise ConnectionURIInvalid(URI_NUL)
    try:
        uri.encode()
    except UnicodeEncodeError:  # a lone surrogate could be neither encrypted nor shown
        raise ConnectionURIInvalid(URI_NOT_TEXT) from None
    match = _URI.fullmatch(uri)
    if not match:
        raise ConnectionURIInvalid(URI_NOT_A_URI)
    if _CONTROL_OR_SPACE.search(uri):
        raise ConnectionURIInvalid(URI_SPACES)
    rest = match["rest"]
    if "#" in rest:
        # An unencoded "#" usually sits in a password and would cut the URI short.
        raise ConnectionURIInvalid(URI_INVALID)
    before_query, _, query = rest.partition("?")
    authority, slash, path = before_query.partition("/")
    database = slash + path
    if "@" in database:
        raise ConnectionURIInvalid(URI_AT_AFTER_HOST)
    userinfo, at, hostinfo = authority.rpartition("@")
    hosts = []
    if hostinfo:
        for part in hostinfo.split(","):
            host = _HOST.fullmatch(part)
            if not host or not 0 < int(host["port"] or 1) <= 65535:
                raise ConnectionURIInvalid(URI_BAD_HOST)
            hosts.append((host["host"], host["port"] or ""))
    elif at:
        raise ConnectionURIInvalid(URI_BAD_HOST)
    if not hosts and not database:
        raise ConnectionURIInvalid(URI_NOT_A_URI)
    names = tuple(name for name, _ in parse_qsl(query, keep_blank_values=True))
    return ConnectionURI(
        scheme=match["scheme"],
        has_credentials=bool(at),
        hosts=tuple(hosts),
        database=database,
        parameter_names=names,
    )


def mask_connection_uri(uri: str) -> str:
    """The URI reduced to what is safe to show: scheme, hosts, ports and database.

    An allow-list: the user name, the password, every query parameter's value (``sig=``,
    ``odbc_connect=``, ``password=``...) and anything that does not parse are hidden,
    so a secret in a place we did not foresee is hidden too.
    """
    if not uri:
        return ""
    try:
        parts = parse_connection_uri(uri)
    except ConnectionURIInvalid:
        scheme = uri.partition("://")[0]
        if "://" in uri and len(scheme) <= 40 and _SCHEME.fullmatch(scheme):
            return f"{scheme}://***"
        return "***"
    hosts = ",".join(f"{host}:{port}" if port else host for host, port in parts.hosts)
    database = parts.database
    if not _SHOWN_DATABASE.fullmatch(database):
        database = "/***"
    query = "&".join(
        f"{name if _SHOWN_PARAMETER.fullmatch(name) else '***'}=***"
        for name in parts.parameter_names
    )
    return (
        f"{parts.scheme}://{'***@' if parts.has_credentials else ''}{hosts}{database}"
        f"{'?' + query if query else ''}"
    )


def connection_uri_problems(uri: str, dialect: str | None = None) -> list[str]:
    """What is wrong with ``uri`` (never quoting it), and whether its scheme fits ``dialect``."""
    try:
        parts = parse_connection_uri(uri)
    except ConnectionURIInvalid as exc:
        return [str(exc)]
    allowed = DIALECT_SCHEMES.get(dialect or "")
    if allowed and parts.scheme_base not in allowed:
        scheme = f"{parts.scheme!r} " if len(parts.scheme) <= 40 else ""
        schemes = " or ".join(f"{name}://" for name in allowed)
        return [
            URI_SCHEME_MISMATCH.format(
                scheme=scheme,
                dialect=dialect,
                schemes=f"{schemes} (optionally with a driver, as in {allowed[0]}+driver://)",
            )
        ]
    return []


def total_sql_problem(records: list[dict]) -> str | None:
    """Why the SQL of these records is too much to parse in one request, if it is."""
    total = sum(len(record.get("sql") or "") for record in records)
    if total <= SQL_MAX_TOTAL_LENGTH:
        return None
    return (
        f"The request holds {total:,} characters of SQL; at most {SQL_MAX_TOTAL_LENGTH:,} "
        "can be checked in one request. Send the records in smaller batches."
    )


def repeated(ids: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(ids).items() if count > 1)
