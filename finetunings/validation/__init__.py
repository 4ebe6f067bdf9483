"""Business-rule checks shared by the services, the admin's forms and the import.

Each check returns a list of human messages (empty when the value is fine), so a caller
can collect every problem of a request and report them together. The API's serializers
check only the wire format (types, and the lengths its schema documents, read from the
limits here); every rule a staff user in the admin must meet too lives here.

``rules`` holds the limits and the checks of metadata, model parameters and base models;
``sql`` the SQL parse; ``connection_uri`` the connection URIs.
"""

from finetunings.validation.connection_uri import (
    DIALECT_SCHEMES,
    URI_AT_AFTER_HOST,
    URI_BAD_HOST,
    URI_EXAMPLE,
    URI_INVALID,
    URI_NOT_A_URI,
    URI_NOT_TEXT,
    URI_NUL,
    URI_SCHEME_MISMATCH,
    URI_SPACES,
    ConnectionURI,
    ConnectionURIInvalid,
    connection_uri_problems,
    mask_connection_uri,
    parse_connection_uri,
)
from finetunings.validation.rules import (
    GOLDEN_RECORDS_MAXIMUM,
    GOLDEN_RECORDS_MINIMUM,
    IDS_SHOWN,
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    MODEL_PARAMETER_RULES,
    QUESTION_MAX_LENGTH,
    SANDBOX_OFF_MESSAGE,
    SCHEMA_MAX_LENGTH,
    SQL_MAX_LENGTH,
    SQL_MAX_TOTAL_LENGTH,
    UNKNOWN_MODEL_PARAMETER,
    base_llm_problems,
    metadata_problems,
    model_parameters_problems,
    name_ids,
    repeated,
    total_sql_problem,
    unknown_model_parameters,
)
from finetunings.validation.sql import SQLGLOT_DIALECTS, plain_parse_error, sql_problems

__all__ = [
    "DIALECT_SCHEMES",
    "GOLDEN_RECORDS_MAXIMUM",
    "GOLDEN_RECORDS_MINIMUM",
    "IDS_SHOWN",
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_LENGTH",
    "METADATA_MAX_VALUE_LENGTH",
    "MODEL_PARAMETER_RULES",
    "QUESTION_MAX_LENGTH",
    "SANDBOX_OFF_MESSAGE",
    "SCHEMA_MAX_LENGTH",
    "SQLGLOT_DIALECTS",
    "SQL_MAX_LENGTH",
    "SQL_MAX_TOTAL_LENGTH",
    "UNKNOWN_MODEL_PARAMETER",
    "URI_AT_AFTER_HOST",
    "URI_BAD_HOST",
    "URI_EXAMPLE",
    "URI_INVALID",
    "URI_NOT_A_URI",
    "URI_NOT_TEXT",
    "URI_NUL",
    "URI_SCHEME_MISMATCH",
    "URI_SPACES",
    "ConnectionURI",
    "ConnectionURIInvalid",
    "base_llm_problems",
    "connection_uri_problems",
    "mask_connection_uri",
    "metadata_problems",
    "model_parameters_problems",
    "name_ids",
    "parse_connection_uri",
    "plain_parse_error",
    "repeated",
    "sql_problems",
    "total_sql_problem",
    "unknown_model_parameters",
]
