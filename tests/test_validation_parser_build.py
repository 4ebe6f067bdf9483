"""Golden-record SQL is parsed by the compiled build of the same sqlglot version."""

from importlib import metadata

import sqlglot.parser


def test_the_compiled_sqlglot_build_matches_sqlglot_version():
    assert metadata.version("sqlglotc") == metadata.version("sqlglot")


def test_sqlglot_parses_with_its_compiled_parser():
    # sqlglot picks the compiled modules over its pure-Python ones when sqlglotc is
    # installed; a pure-Python parser here means the ~3x faster build is not in use.
    assert not sqlglot.parser.__file__.endswith(".py")
