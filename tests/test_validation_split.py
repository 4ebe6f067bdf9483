"""The validation split's draw: disjoint parts that together are the job's records, and a
split that anyone can repeat from what the job records."""

import hashlib
import random

import pytest

from finetunings import validation_split

IDS = [f"{index:024x}" for index in range(40)]


def test_the_two_parts_are_disjoint_and_together_are_the_ids_in_their_order():
    training, held_out = validation_split.split(IDS, fraction=0.25, seed=7)

    assert len(held_out) == 10
    assert not set(training) & set(held_out)
    assert sorted(training + held_out) == sorted(IDS)
    assert training == [i for i in IDS if i in set(training)]
    assert held_out == [i for i in IDS if i in set(held_out)]


def test_the_same_ids_fraction_and_seed_give_the_same_split_in_any_order():
    _training, held_out = validation_split.split(IDS, fraction=0.2, seed=12345)
    shuffled = IDS[:]
    random.Random(1).shuffle(shuffled)

    _again, held_out_again = validation_split.split(shuffled, fraction=0.2, seed=12345)

    assert set(held_out_again) == set(held_out)


def test_another_seed_draws_another_split():
    _training, one = validation_split.split(IDS, fraction=0.2, seed=1)
    _training, other = validation_split.split(IDS, fraction=0.2, seed=2)

    assert set(one) != set(other)


def test_the_documented_procedure_is_the_split():
    # The README tells clients how to repeat a split without this code: rank by SHA-256.
    seed, fraction = 99, 0.3
    ranked = sorted(IDS, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    expected = set(ranked[: validation_split.held_out_count(len(IDS), fraction)])

    _training, held_out = validation_split.split(IDS, fraction=fraction, seed=seed)

    assert set(held_out) == expected


@pytest.mark.parametrize(
    ("total", "fraction", "count"),
    [(10, 0.05, 1), (10, 0.04, 0), (15, 0.1, 2), (12, 0.5, 6), (11, 0.0, 0)],
)
def test_a_fraction_holds_out_its_share_rounded_half_up(total, fraction, count):
    assert validation_split.held_out_count(total, fraction) == count
