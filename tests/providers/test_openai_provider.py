"""The OpenAI provider, driving the real SDK against the fake OpenAI server."""

import io
from http import HTTPStatus

import pytest

from finetunings.providers import ProviderNotConfigured, ProviderRejected, ProviderUnavailable
from finetunings.providers.openai import (
    NOT_CONFIGURED_MESSAGE,
    OpenAIProvider,
)
from tests.fakes.openai_fixtures import SLOWER_THAN_TIMEOUT, TEST_TIMEOUT_SECONDS
from tests.fakes.openai_server import CANCEL, CREATE, EVENTS, LIST, RETRIEVE, UPLOAD

pytestmark = pytest.mark.usefixtures("no_network")

MODEL = "gpt-4o-mini-2024-07-18"


def upload(provider, content=b'{"messages": []}\n'):
    return provider.upload_training_file(filename="job.jsonl", file=io.BytesIO(content))


def create(provider, file_id, finetuning_id="ft1", **overrides):
    return provider.create_job(
        **{
            "training_file_id": file_id,
            "model": MODEL,
            "hyperparameters": {"n_epochs": "3", "batch_size": "auto"},
            "suffix": "Shop model_2026",
            "metadata": {"finetuning_id": finetuning_id},
            **overrides,
        }
    )


def test_upload_create_and_follow_a_job(real_provider, openai_provider):
    file_id = upload(real_provider, b'{"a": 1}\n')
    job = create(real_provider, file_id)

    assert openai_provider.files[file_id]["content"] == b'{"a": 1}\n'
    assert openai_provider.files[file_id]["purpose"] == "fine-tune"
    sent = openai_provider.jobs[job.id]
    assert sent["hyperparameters"]["n_epochs"] == 3  # "3" is sent as a number
    assert sent["suffix"] == "shop-model-2026"
    assert job.status == "validating_files"
    assert job.training_file == file_id
    assert job.metadata == {"finetuning_id": "ft1"}

    openai_provider.add_event(job.id, "Validating training file")
    openai_provider.set_status(job.id, "succeeded", fine_tuned_model="ft:model:acme::1")
    done = real_provider.retrieve_job(job.id)
    assert (done.status, done.fine_tuned_model) == ("succeeded", "ft:model:acme::1")
    assert done.finished_at is not None
    [event] = real_provider.list_job_events(job.id).events
    assert event.message == "Validating training file"


def test_a_failed_job_carries_the_providers_message(real_provider, openai_provider):
    job = create(real_provider, upload(real_provider))
    openai_provider.set_status(job.id, "failed", error_message="Invalid file format.")

    assert real_provider.retrieve_job(job.id).error_message == "Invalid file format."


def test_list_pages_newest_first_and_find_by_metadata(real_provider):
    file_id = upload(real_provider)
    jobs = [create(real_provider, file_id, finetuning_id=f"ft{i}") for i in range(5)]

    first = real_provider.list_jobs(limit=2)
    second = real_provider.list_jobs(after=first[-1].id, limit=2)
    rest = real_provider.list_jobs(after=second[-1].id, limit=2)

    listed = [job.id for job in first + second + rest]
    assert listed == [job.id for job in reversed(jobs)]
    assert real_provider.find_job_by_metadata(key="finetuning_id", value="ft3").id == jobs[3].id
    assert real_provider.find_job_by_metadata(key="finetuning_id", value="nope") is None


def test_cancel_returns_the_cancelled_job_and_a_second_cancel_is_refused(real_provider):
    job = create(real_provider, upload(real_provider))

    assert real_provider.cancel_job(job.id).status == "cancelled"
    with pytest.raises(ProviderRejected) as refused:
        real_provider.cancel_job(job.id)
    assert refused.value.status_code == HTTPStatus.BAD_REQUEST
    assert "has already cancelled" in refused.value.message


def _call(provider, fake, operation):
    """Perform ``operation`` on an existing job (or file) through the provider."""
    if operation == UPLOAD:
        return upload(provider)
    file_id = next(iter(fake.files), None) or upload(provider)
    if operation == CREATE:
        return create(provider, file_id)
    job_id = next(iter(fake.jobs), None) or create(provider, file_id).id
    return {
        RETRIEVE: lambda: provider.retrieve_job(job_id),
        CANCEL: lambda: provider.cancel_job(job_id),
        LIST: lambda: provider.list_jobs(),
        EVENTS: lambda: provider.list_job_events(job_id),
    }[operation]()


PASSING_FAULTS = {
    "429": (lambda fake, op: fake.fail_next(op, 429), "rate limiting requests (429)"),
    "500": (lambda fake, op: fake.fail_next(op, 500), "internal error (500)"),
    "timeout": (
        lambda fake, op: fake.delay_next(op, SLOWER_THAN_TIMEOUT),
        f"did not answer within {TEST_TIMEOUT_SECONDS:g} seconds",
    ),
}


@pytest.mark.parametrize("operation", [UPLOAD, CREATE, RETRIEVE, CANCEL, LIST, EVENTS])
@pytest.mark.parametrize("fault", PASSING_FAULTS)
def test_passing_failures_become_provider_unavailable(
    real_provider, openai_provider, operation, fault
):
    if operation not in (UPLOAD, CREATE):
        _call(real_provider, openai_provider, CREATE)  # something to act on
    inject, words = PASSING_FAULTS[fault]
    inject(openai_provider, operation)

    with pytest.raises(ProviderUnavailable) as failure:
        _call(real_provider, openai_provider, operation)

    assert words in failure.value.message


def test_the_provider_refusing_a_request_is_permanent_with_its_message(real_provider):
    with pytest.raises(ProviderRejected) as refused:
        create(real_provider, "file-does-not-exist")

    assert refused.value.status_code == HTTPStatus.BAD_REQUEST
    assert "Invalid file ID: file-does-not-exist" in refused.value.message


def test_a_wrong_api_key_is_a_configuration_problem_not_a_verdict_on_the_job(
    settings, openai_provider
):
    settings.OPENAI_API_KEY = "wrong-key"

    with pytest.raises(ProviderNotConfigured) as refused:
        OpenAIProvider().list_jobs()

    assert refused.value.status_code == HTTPStatus.UNAUTHORIZED
    assert "Incorrect API key" in refused.value.message
    assert "Check OPENAI_API_KEY" in refused.value.message


def test_sdk_retries_idempotent_calls_but_never_a_create(settings, openai_provider):
    settings.OPENAI_MAX_RETRIES = 2
    provider = OpenAIProvider()
    job = create(provider, upload(provider))

    openai_provider.fail_next(RETRIEVE, 429)
    assert provider.retrieve_job(job.id).id == job.id  # retried by the SDK
    assert len(openai_provider.calls_to(RETRIEVE)) == 2

    openai_provider.fail_next(CREATE, 500)
    with pytest.raises(ProviderUnavailable):
        create(provider, job.training_file, finetuning_id="ft2")
    assert len(openai_provider.calls_to(CREATE)) == 2  # the first job, and one attempt


def test_without_an_api_key_nothing_is_called_and_the_reason_is_clear(settings, openai_provider):
    settings.OPENAI_API_KEY = None
    provider = OpenAIProvider()

    assert provider.configuration_problem() == NOT_CONFIGURED_MESSAGE
    with pytest.raises(ProviderNotConfigured) as waiting:
        provider.list_jobs()
    assert waiting.value.message == NOT_CONFIGURED_MESSAGE
    assert openai_provider.calls == []


def test_an_unreachable_provider_is_a_passing_failure(settings, openai_provider):
    openai_provider.stop()  # nothing listens on that port any more

    with pytest.raises(ProviderUnavailable) as failure:
        OpenAIProvider().list_jobs()

    assert failure.value.message.startswith("The provider could not be reached:")
