"""The business-rule checks' messages: what is wrong and where, in the user's words."""

import pytest

from finetunings.validation import sql_problems


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
