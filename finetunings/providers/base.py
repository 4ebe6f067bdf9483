"""The provider interface and its two domain errors.

Every provider error is either *passing* (``ProviderUnavailable``: connection failure,
timeout, 429, 5xx; trying again later may work) or *permanent* (``ProviderRejected``: the
provider understood and said no). Callers never see an SDK's own exception types.
"""

import datetime
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

# Provider status strings (OpenAI's) mapped onto ours; an unknown one maps to None and is
# treated as "still active" by the callers.
PROVIDER_STATUS_MAP = {
    "validating_files": "validating_files",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


class ProviderError(Exception):
    """Base of the provider's domain errors; ``message`` is fit to show a user."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        may_have_acted: bool = False,
    ):
        self.message = message
        self.status_code = status_code
        # Seconds the provider asked us to wait (a 429's Retry-After), when it said so.
        self.retry_after = retry_after
        # True when the call may have been carried out before it failed (a time-out, a 5xx):
        # a cancel that ends so may have stopped the job all the same.
        self.may_have_acted = may_have_acted
        super().__init__(message)

    @property
    def rate_limited(self) -> bool:
        return self.status_code == 429


class ProviderUnavailable(ProviderError):
    """A passing failure: the provider could not be reached, timed out, or was overloaded."""


class ProviderRejected(ProviderError):
    """A permanent failure: the provider refused the request."""


class ProviderNotConfigured(ProviderUnavailable):
    """The provider cannot be called at all (no API key): jobs wait until it is configured."""


@dataclass(frozen=True)
class ProviderJob:
    id: str
    status: str
    model: str | None = None
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    error_message: str | None = None
    metadata: dict[str, str] | None = None
    created_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    # What the job reports while it trains and once it ends (None: not reported).
    trained_tokens: int | None = None
    estimated_finish: datetime.datetime | None = None
    hyperparameters: dict | None = None  # as the provider resolved them from "auto"
    error_code: str | None = None
    error_param: str | None = None
    result_files: tuple[str, ...] = ()

    @property
    def mapped_status(self) -> str | None:
        return PROVIDER_STATUS_MAP.get(self.status)


@dataclass(frozen=True)
class ProviderEvent:
    id: str
    created_at: datetime.datetime
    level: str
    message: str
    data: dict = field(default_factory=dict)
    type: str = "message"  # or "metrics": one training step's figures in ``data``


@dataclass(frozen=True)
class ProviderCheckpoint:
    """A model saved during training, which can be used like the final one."""

    id: str
    step: int
    model_id: str
    metrics: dict = field(default_factory=dict)
    created_at: datetime.datetime | None = None


@dataclass(frozen=True)
class ProviderEventPage:
    """One page of a job's events, newest first; ``has_more``: older events remain."""

    events: list[ProviderEvent]
    has_more: bool


@dataclass(frozen=True)
class GeneratedSQL:
    """A model's answer to one prompt: the SQL found in it, the whole text, the tokens used.

    ``sql`` is "" when the answer holds nothing that looks like a query (scoring then calls
    it invalid); ``text`` keeps what the model said, for the people reading the results.
    """

    sql: str
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: bool = False  # the token cap cut the answer short


# A fenced block, ```sql ... ``` or plain ``` ... ```: models wrap SQL in them despite the
# instructions, and often add a sentence before or after.
_FENCE = re.compile(r"```(?:[ \t]*[A-Za-z0-9_+-]*[ \t]*\n)?(.*?)(?:```|\Z)", re.DOTALL)
_SQL_START = re.compile(r"^\s*(?:SELECT|WITH)\b", re.IGNORECASE | re.MULTILINE)


def extract_sql(text: str | None) -> str:
    """The query in a model's answer: a fenced block's content, else the text from its first
    line starting with SELECT or WITH, else the whole text (for scoring to judge)."""
    text = (text or "").strip()
    for block in _FENCE.findall(text):
        if block.strip():
            return block.strip().rstrip(";").strip()
    start = _SQL_START.search(text)
    if start is not None:
        text = text[start.start() :]
    return text.strip().rstrip(";").strip()


class Provider(Protocol):
    """What the service needs from a fine-tuning provider."""

    name: str

    def upload_training_file(self, *, filename: str, file: BinaryIO) -> str:
        """Upload a JSONL training (or validation) file; return the provider's file id."""

    def create_job(
        self,
        *,
        training_file_id: str,
        model: str,
        hyperparameters: dict,
        suffix: str | None,
        metadata: dict[str, str],
        validation_file_id: str | None = None,
    ) -> ProviderJob:
        """Create a fine-tuning job. Must not retry on its own: a job costs money.

        ``validation_file_id``: an uploaded file of held-out examples (same format as the
        training file); the provider then reports validation loss as the job trains.
        """

    def retrieve_job(self, job_id: str) -> ProviderJob: ...

    def list_jobs(self, *, after: str | None = None, limit: int = 100) -> list[ProviderJob]:
        """One page of jobs, newest first, starting after the job id ``after``."""

    def find_job_by_metadata(self, *, key: str, value: str) -> ProviderJob | None:
        """The job whose metadata has ``key == value`` (how an ambiguous create is resolved)."""

    def cancel_job(self, job_id: str) -> ProviderJob:
        """Ask the provider to cancel; return the job as the provider now reports it."""

    def list_job_events(
        self, job_id: str, *, after: str | None = None, limit: int = 100
    ) -> ProviderEventPage:
        """One page of the job's events, newest first; ``after`` pages towards older ones."""

    def list_job_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        """The job's checkpoints (OpenAI keeps a few: those of the last epochs)."""

    def read_result_file(self, file_id: str) -> bytes:
        """The content of a job's result file (its per-step metrics, as CSV)."""

    def generate_sql(
        self,
        *,
        model: str,
        messages: list[dict],
        max_tokens: int,
        timeout: float | None = None,
    ) -> GeneratedSQL:
        """Ask ``model`` for the SQL answering ``messages`` (one chat completion).

        At most ``max_tokens`` tokens of answer; passing errors are retried by the client
        before ``ProviderUnavailable`` is raised.
        """
