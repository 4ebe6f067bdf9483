"""SQL checks: one statement of a query or data change that parses in its dialect.

Parser messages are put into the user's words (what is wrong, near which words), since
sqlglot's own name its classes and tokens.
"""

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from finetunings.validation.rules import SQL_MAX_LENGTH

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
