"""The business-rule checks: connection URIs (what is shown of them, which are accepted for
which dialect) and SQL (messages that say what is wrong and where, in the user's words)."""

import pytest

from finetunings.models import Dialect
from finetunings.validation import (
    DIALECT_SCHEMES,
    URI_NOT_TEXT,
    connection_uri_problems,
    mask_connection_uri,
    sql_problems,
)
from tests.uri_forms import INVALID_URI_FORMS, VALID_URI_FORMS


def test_the_uri_forms_cover_every_dialect():
    assert {dialect for dialect, *_ in VALID_URI_FORMS} == set(Dialect.values)
    assert set(DIALECT_SCHEMES) == set(Dialect.values)


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), VALID_URI_FORMS)
def test_masking_shows_only_scheme_hosts_ports_and_database(dialect, uri, masked, secrets):
    shown = mask_connection_uri(uri)

    assert shown == masked
    for secret in secrets:
        assert secret not in shown


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), INVALID_URI_FORMS)
def test_a_stored_uri_that_does_not_parse_shows_at_most_its_scheme(dialect, uri, masked, secrets):
    assert mask_connection_uri(uri) == masked


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), VALID_URI_FORMS)
def test_every_supported_uri_form_is_accepted_for_its_dialect(dialect, uri, masked, secrets):
    assert connection_uri_problems(uri, dialect) == []


@pytest.mark.parametrize(("dialect", "uri", "masked", "secrets"), INVALID_URI_FORMS)
def test_a_refused_uri_is_never_quoted_in_the_problem(dialect, uri, masked, secrets):
    problems = connection_uri_problems(uri, dialect)

    assert problems
    for secret in secrets:
        assert not any(secret in problem for problem in problems)


def test_a_uri_with_a_lone_surrogate_is_refused_and_masked_to_its_scheme():
    uri = "postgresql://reader:pw@db.internal/shop?application_name=\ud800"

    assert connection_uri_problems(uri, "postgresql") == [URI_NOT_TEXT]
    assert mask_connection_uri(uri) == "postgresql://***"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT 2 *",
            "The SQL does not parse as postgresql at line 1, column 10: something is missing "
            "after '*'.",
        ),
        (
            "SELECT a FROM t WHERE",
            "The SQL does not parse as postgresql at line 1, column 21: something is missing "
            "after 'WHERE'.",
        ),
        (
            "SELECT * FROM",
            "The SQL does not parse as postgresql at line 1, column 13: expected table name but "
            "got the end of the SQL.",
        ),
        (
            "SELECT * FROM t WHERE a IN (",
            "The SQL does not parse as postgresql at line 1, column 28: expected ')' near '('.",
        ),
        ("SELEC 1", "The SQL does not parse as postgresql at line 1, column 7: unexpected '1'."),
    ],
)
def test_sql_errors_say_what_is_wrong_and_where(sql, message):
    assert sql_problems(sql, "postgresql") == [message]


@pytest.mark.parametrize(
    "sql",
    ["SELECT 2 *", "SELECT * FROM", "INSERT INTO", "SELECT 'abc", "SELECT a FROM t ORDER BY"],
)
def test_sql_errors_name_no_parser_classes_or_tokens(sql):
    (message,) = sql_problems(sql, "postgresql")

    assert "<class" not in message
    assert "sqlglot" not in message
    assert "Token" not in message
    assert "Required keyword" not in message


def test_an_unclosed_quote_is_named_with_the_text_before_it():
    (message,) = sql_problems("SELECT 'abc", "postgresql")

    assert message.startswith("The SQL does not parse as postgresql: it cannot be read near")
    assert "quote" in message
