"""The training file: its content, its order, and token counting that never needs the network."""

import hashlib
import io
import json
import socket

import pytest

from finetunings import services, training_data
from finetunings.models import Finetuning, GoldenRecord

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture
def empty_tiktoken_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))


def build(finetuning):
    out = io.BytesIO()
    summary = training_data.write_training_file(finetuning=finetuning, out=out)
    return summary, [json.loads(line) for line in out.getvalue().splitlines()]


def test_examples_follow_the_order_the_job_stored(connection, golden_records):
    chosen = [record.pk for record in reversed(golden_records)]
    finetuning = services.finetuning_create(
        db_connection_id=connection.pk, actor="test", golden_records=chosen
    )

    summary, examples = build(Finetuning.objects.get(pk=finetuning.pk))

    by_id = {record.pk: record for record in golden_records}
    assert [example["messages"][1]["content"] for example in examples] == [
        by_id[record_id].question for record_id in chosen
    ]
    assert summary.examples == len(chosen)
    system = examples[0]["messages"][0]["content"]
    assert system == training_data.system_message(connection)
    assert connection.schema in system
    assert "PostgreSQL" in system


@pytest.mark.usefixtures("empty_tiktoken_cache")
@pytest.mark.parametrize("method", ["auto", "tiktoken", "estimate"])
def test_without_cached_encodings_tokens_are_estimated_and_labelled(settings, finetuning, method):
    settings.FINETUNING_TOKEN_COUNTER = method

    summary, _ = build(finetuning)

    assert summary.token_counting == training_data.ESTIMATE_LABEL
    assert summary.tokens > 0
    assert summary.estimated_billed_tokens == summary.tokens * 3


def test_explicit_epochs_drive_the_billed_tokens_estimate(connection, golden_records):
    finetuning = services.finetuning_create(
        db_connection_id=connection.pk,
        actor="test",
        base_llm={"model_parameters": {"n_epochs": "5"}},
    )

    summary, _ = build(finetuning)

    assert summary.n_epochs_for_estimate == 5
    assert summary.estimated_billed_tokens == summary.tokens * 5


def test_the_token_limit_is_looked_up_by_the_longest_matching_model_prefix(settings):
    settings.FINETUNING_MODEL_TOKEN_LIMITS = {"gpt-4": 8_192, "gpt-4o": 65_536}

    assert training_data.token_limit("gpt-4o-mini-2024-07-18") == 65_536
    assert training_data.token_limit("gpt-4-0613") == 8_192
    assert training_data.token_limit("davinci-002") == settings.FINETUNING_DEFAULT_TOKEN_LIMIT


def test_records_no_longer_on_the_jobs_connection_are_reported_as_such_not_as_deleted(
    connection, golden_records, make_connection, finetuning
):
    # Rows moved before moving was refused, or by hand in the database.
    other = make_connection(alias="warehouse")
    GoldenRecord.objects.filter(pk__in=[r.pk for r in golden_records[:3]]).update(
        db_connection=other
    )
    services.golden_record_delete(golden_record=golden_records[3])

    with pytest.raises(training_data.TrainingDataRejected) as rejected:
        build(Finetuning.objects.get(pk=finetuning.pk))

    assert str(rejected.value) == " ".join(
        [
            training_data.MISSING_RECORDS_MESSAGE.format(missing=1, total=12),
            training_data.MOVED_RECORDS_MESSAGE.format(moved=3, total=12),
        ]
    )


def test_records_only_moved_away_are_not_called_deleted(
    connection, golden_records, make_connection, finetuning
):
    other = make_connection(alias="warehouse")
    GoldenRecord.objects.filter(pk=golden_records[0].pk).update(db_connection=other)

    with pytest.raises(training_data.TrainingDataRejected) as rejected:
        build(Finetuning.objects.get(pk=finetuning.pk))

    assert str(rejected.value) == training_data.MOVED_RECORDS_MESSAGE.format(moved=1, total=12)
    assert "deleted" not in str(rejected.value)


@pytest.fixture
def resolved_hosts(monkeypatch):
    """Every host name anything tries to resolve (resolution still fails off loopback)."""
    hosts = []
    guarded = socket.getaddrinfo  # the no_network guard

    def recording(host, *args, **kwargs):
        hosts.append(host)
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return hosts


def test_a_corrupt_cached_encoding_never_makes_the_worker_download(
    settings, monkeypatch, tmp_path, resolved_hosts, finetuning
):
    # An operator pre-seeded the cache for an offline worker, but the file is damaged
    # (truncated copy, a Git LFS pointer, ...). tiktoken then deletes it and downloads the
    # encoding with requests.get(url) and no timeout: on a firewalled host, a hang for ever.
    settings.FINETUNING_TOKEN_COUNTER = "auto"
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    url = training_data.TIKTOKEN_URL.format(
        encoding=training_data._encoding_name(finetuning.model_name)
    )
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"version https://git-lfs\n")

    summary = training_data.write_training_file(finetuning=finetuning, out=io.BytesIO())

    assert summary.examples == len(finetuning.golden_records)
    assert [host for host in resolved_hosts if host not in ("127.0.0.1", "localhost")] == []
