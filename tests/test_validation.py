"""The business-rule checks: connection URIs (what is shown of them, which are accepted for
which dialect), SQL (messages that say what is wrong and where, in the user's words),
metadata, model parameters, base models and the limits on ids."""

import pytest

from finetunings.models import Dialect
from finetunings.validation import (
    DIALECT_SCHEMES,
    IDS_SHOWN,
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    SANDBOX_OFF_MESSAGE,
    SQL_MAX_LENGTH,
    SQL_MAX_TOTAL_LENGTH,
    UNKNOWN_MODEL_PARAMETER,
    URI_NOT_TEXT,
    base_llm_problems,
    connection_uri_problems,
    mask_connection_uri,
    metadata_problems,
    model_parameters_problems,
    name_ids,
    repeated,
    sql_problems,
    total_sql_problem,
    unknown_model_parameters,
)
from tests.helpers.uri_forms import INVALID_URI_FORMS, VALID_URI_FORMS


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


# --- metadata -------------------------------------------------------------------------


def test_metadata_may_be_absent_or_a_small_object_of_strings():
    assert metadata_problems(None) == []
    assert metadata_problems({}) == []
    assert metadata_problems({"team": "sales", "note": ""}) == []


@pytest.mark.parametrize("metadata", [["team"], "team=sales", 3])
def test_metadata_that_is_not_an_object_is_refused(metadata):
    assert metadata_problems(metadata) == [
        "Must be an object whose keys and values are strings, or null."
    ]


def test_metadata_limits_keys_and_lengths_and_names_each_problem():
    too_many = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS + 1)}
    long_key = "k" * (METADATA_MAX_KEY_LENGTH + 1)
    long_value = "v" * (METADATA_MAX_VALUE_LENGTH + 1)

    assert metadata_problems(too_many) == [
        f"At most {METADATA_MAX_KEYS} keys are allowed; got {METADATA_MAX_KEYS + 1}."
    ]
    (key_problem,) = metadata_problems({long_key: "v"})
    assert f"longer than {METADATA_MAX_KEY_LENGTH} characters" in key_problem
    assert metadata_problems({"note": long_value}) == [
        f"The value of 'note' is longer than {METADATA_MAX_VALUE_LENGTH} characters."
    ]
    assert metadata_problems({"count": 3}) == ["The value of 'count' must be a string."]


def test_metadata_with_a_non_string_key_or_a_lone_surrogate_is_refused():
    # The admin's JSON field lets these through; the API's parser refuses them earlier.
    assert metadata_problems({1: "one"})[0].startswith("Keys must be strings.")
    (problem,) = metadata_problems({"note": "bad \ud800"})
    assert problem.startswith("The value of 'note':")


# --- model parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    "parameters",
    [
        None,
        {},
        {"n_epochs": 3, "batch_size": "8", "learning_rate_multiplier": 1.8},
        {"n_epochs": "auto", "batch_size": " auto ", "learning_rate_multiplier": "0.5"},
        {"n_epochs": 3.0, "batch_size": 256, "learning_rate_multiplier": 10},
    ],
)
def test_model_parameters_in_range_auto_or_numeric_strings_are_accepted(parameters):
    assert model_parameters_problems(parameters) == {}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"n_epochs": 0}, "Must be between 1 and 50; got 0."),
        ({"n_epochs": 51}, "Must be between 1 and 50; got 51."),
        ({"n_epochs": 2.5}, 'Must be a whole number or "auto"; got 2.5.'),
        ({"n_epochs": True}, 'Must be a whole number or "auto"; got True.'),
        ({"n_epochs": "many"}, "Must be a whole number or \"auto\"; got 'many'."),
        ({"batch_size": 257}, "Must be between 1 and 256; got 257."),
        (
            {"learning_rate_multiplier": 0},
            "Must be greater than 0 and at most 10; got 0.",
        ),
        ({"learning_rate_multiplier": "nan"}, "Must be a number or \"auto\"; got 'nan'."),
        ({"learning_rate_multiplier": 10**400}, 'Must be a number or "auto"; got 1000'),
    ],
)
def test_model_parameters_out_of_range_or_of_the_wrong_kind_are_refused(parameters, message):
    ((name, (problem,)),) = model_parameters_problems(parameters).items()

    assert name == next(iter(parameters))
    assert problem.startswith(message)


def test_unknown_model_parameters_are_named_with_the_message_the_api_gives():
    assert unknown_model_parameters({"n_epochs": 1, "seed": 1, "alpha": 2}) == ["alpha", "seed"]
    assert model_parameters_problems({"seed": 1}) == {"seed": [UNKNOWN_MODEL_PARAMETER]}


# --- base model -----------------------------------------------------------------------


def test_a_supported_provider_and_model_are_accepted(settings):
    provider = settings.FINETUNING_DEFAULT_PROVIDER
    model = settings.FINETUNING_ALLOWED_MODELS[provider][0]

    assert base_llm_problems(provider, model) == {}


def test_an_unsupported_provider_or_model_names_what_is_supported(settings):
    provider = settings.FINETUNING_DEFAULT_PROVIDER

    (message,) = base_llm_problems("acme", "x")["model_provider"]
    assert message.startswith("Unsupported provider 'acme'; use ")
    assert provider in message
    (message,) = base_llm_problems(provider, "gpt-nonexistent")["model_name"]
    assert "'gpt-nonexistent' cannot be fine-tuned" in message
    assert settings.FINETUNING_ALLOWED_MODELS[provider][0] in message


def test_the_sandbox_provider_is_refused_while_it_is_turned_off(settings):
    settings.FINETUNING_SANDBOX_ENABLED = False

    assert base_llm_problems("sandbox", "anything") == {"model_provider": [SANDBOX_OFF_MESSAGE]}


# --- SQL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM orders",
        "INSERT INTO orders (id) VALUES (1)",
        "UPDATE orders SET total = 0 WHERE id = 1",
        "DELETE FROM orders WHERE id = 1",
        "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
    ],
)
def test_one_query_or_data_statement_is_accepted(sql):
    assert sql_problems(sql, "postgresql") == []


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "The SQL is empty."),
        (";", "The SQL is empty."),
        ("SELECT 1; SELECT 2", "Expected one SQL statement; found 2."),
        (
            "CREATE TABLE t (a int)",
            "The SQL does not parse as postgresql to a query or data statement.",
        ),
    ],
)
def test_empty_several_or_ddl_statements_are_refused(sql, message):
    assert sql_problems(sql, "postgresql") == [message]


def test_sql_longer_than_the_limit_is_refused_before_it_is_parsed():
    sql = "SELECT 1" + " " * SQL_MAX_LENGTH

    assert sql_problems(sql, "postgresql") == [
        f"The SQL is longer than {SQL_MAX_LENGTH:,} characters."
    ]


def test_sql_is_parsed_in_the_connections_dialect():
    assert sql_problems("SELECT TOP 5 * FROM orders", "mssql") == []
    assert sql_problems("SELECT TOP 5 * FROM orders", "postgresql") != []


def test_too_much_sql_in_one_request_is_refused_with_a_way_out():
    half = {"sql": "x" * (SQL_MAX_TOTAL_LENGTH // 2)}

    assert total_sql_problem([half, half]) is None
    problem = total_sql_problem([half, half, {"sql": "x"}, {"sql": None}])
    assert f"at most {SQL_MAX_TOTAL_LENGTH:,}" in problem
    assert "smaller batches" in problem


# --- ids and URIs -----------------------------------------------------------------------


def test_messages_name_the_first_ids_and_count_the_rest():
    ids = [f"id{i}" for i in range(IDS_SHOWN + 3)]

    assert name_ids(ids[:2]) == "id0, id1"
    assert name_ids(ids) == ", ".join(ids[:IDS_SHOWN]) + " and 3 more"


def test_repeated_ids_are_listed_once_each_in_order():
    assert repeated(["b", "a", "b", "c", "a", "b"]) == ["a", "b"]
    assert repeated(["a", "b"]) == []


def test_a_uri_whose_scheme_does_not_fit_the_dialect_names_the_schemes_that_do():
    (problem,) = connection_uri_problems("mysql://u:p@db:3306/shop", "postgresql")

    assert problem.startswith("The URI's scheme 'mysql' does not fit the dialect postgresql")
    assert "postgresql://" in problem
    assert "p@db" not in problem
    assert connection_uri_problems("postgresql://u:p@db/shop") == []  # no dialect: any scheme
