"""The one check of incoming text: NUL and lone surrogates found anywhere, keys included."""

import pytest

from finetunings import hygiene

NUL, SURROGATE = "\x00", "\ud800"


@pytest.mark.parametrize("bad", [NUL, SURROGATE, "a\udfffb"])
def test_unsafe_text_is_found_in_values_and_keys_at_any_depth(bad):
    assert hygiene.unsafe_text_path([{"a": "ok"}, {"b": [1, f"x{bad}"]}]) == (
        "1.b.1",
        hygiene.UNSAFE_TEXT_MESSAGE,
    )
    assert hygiene.unsafe_text_path({"a": {f"k{bad}": "v"}}) == ("a", hygiene.UNSAFE_KEY_MESSAGE)
    assert hygiene.unsafe_text_path(bad) == ("", hygiene.UNSAFE_TEXT_MESSAGE)


def test_clean_text_of_any_script_and_an_escape_written_out_are_safe():
    body = [{"question": "Données über ✓ 🚀 \\u0000 \\ud800", "n": 1, "x": None}] * 1000

    assert hygiene.unsafe_text_path(body) is None


def test_data_deeper_than_json_can_write_is_still_checked():
    deep: list = [f"a{NUL}"]
    for _ in range(5000):
        deep = [deep]

    path, message = hygiene.unsafe_text_path(deep)

    assert path == ".".join(["0"] * 5001)
    assert message == hygiene.UNSAFE_TEXT_MESSAGE


def test_data_that_is_not_plain_json_is_walked_as_before():
    assert hygiene.unsafe_text_path({1: f"a{NUL}"}) == ("1", hygiene.UNSAFE_TEXT_MESSAGE)
    assert hygiene.unsafe_text_path({"a": object(), "b": f"{SURROGATE}"}) == (
        "b",
        hygiene.UNSAFE_TEXT_MESSAGE,
    )
