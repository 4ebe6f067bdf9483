"""Connection URIs: what is shown of them, and which are accepted for which dialect."""

import pytest

from finetunings.models import Dialect
from finetunings.validation import (
    DIALECT_SCHEMES,
    URI_NOT_TEXT,
    connection_uri_problems,
    mask_connection_uri,
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
