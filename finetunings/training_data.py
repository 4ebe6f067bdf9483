"""Builds and checks the JSONL files a fine-tuning job trains and validates on.

One chat example per golden record, in the job's stored order: a system message with the
instructions and the connection's schema, a user message with the question, an assistant
message with the SQL. The file is written as a stream (records are read in chunks and each
line goes straight to the output), so memory stays flat however many records a job has.

Everything a provider would reject is checked here, before anything is uploaded: at least
ten examples, no empty message, no example longer than the model's token limit, and no
golden record deleted since the job was created (training on a different set than the one
the user chose would be a silent surprise).

Tokens are counted with ``tiktoken`` when its encoding file is available locally. tiktoken
downloads that file on first use; a worker without internet must not hang on it, so
otherwise the count is a clearly labelled estimate (see FINETUNING_TOKEN_COUNTER).
"""

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

from django.conf import settings

from finetunings import validation
from finetunings.models import DatabaseConnection, Finetuning, GoldenRecord

SYSTEM_INSTRUCTIONS = (
    "You are an expert in {dialect} SQL. Given a question about the database described "
    "below, answer with one SQL query that answers it, and nothing else.\n\n"
    "Database schema:\n{schema}"
)

ESTIMATE_LABEL = "estimate: ~4 chars per token (tiktoken encodings unavailable offline)"
TIKTOKEN_LABEL = "tiktoken:{encoding}"
# OpenAI's accounting for chat examples: a few tokens per message, a few to prime the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_EXAMPLE = 3
CHARS_PER_TOKEN_ESTIMATE = 4

RECORDS_CHUNK_SIZE = 500

TOO_FEW_EXAMPLES_MESSAGE = (
    "The training file has {count} examples; the provider needs at least {minimum}."
)
MISSING_RECORDS_MESSAGE = (
    "{missing} of the job's {total} golden records have been deleted since the job was "
    "created; create a new job to train on the records that remain."
)
MOVED_RECORDS_MESSAGE = (
    "{moved} of the job's {total} golden records no longer belong to the job's database "
    "connection; create a new job to train on the connection's records."
)
VALIDATION_EXAMPLES_MINIMUM = 1
TOO_FEW_VALIDATION_EXAMPLES_MESSAGE = (
    "The validation file has {count} examples; it needs at least {minimum}."
)
MISSING_VALIDATION_RECORDS_MESSAGE = (
    "{missing} of the job's {total} validation golden records have been deleted since the "
    "job was created; create a new job to validate on the records that remain."
)
MOVED_VALIDATION_RECORDS_MESSAGE = (
    "{moved} of the job's {total} validation golden records no longer belong to the job's "
    "database connection; create a new job to validate on the connection's records."
)
EMPTY_MESSAGE_MESSAGE = "Golden record {record_id} has an empty {field}; fix it or remove it."
TOO_LONG_MESSAGE = (
    "{count} examples exceed {model}'s limit of {limit} tokens per example (the longest, "
    "golden record {record_id}, has {tokens})."
)
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken"


class TrainingDataRejected(Exception):
    """The job's data cannot make a valid training file; ``message`` says why, for users."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class TrainingFileSummary:
    examples: int
    tokens: int
    max_example_tokens: int
    n_epochs_for_estimate: int
    estimated_billed_tokens: int
    token_counting: str
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


# --- Token counting --------------------------------------------------------------------


def _encoding_name(model: str) -> str:
    import tiktoken

    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        return "o200k_base"  # the encoding of every current OpenAI chat model


# The SHA-256 tiktoken itself expects of each encoding file (tiktoken_ext.openai_public).
# A cached file that does not match makes tiktoken delete it and download it again, with
# no timeout, so only a file that matches counts as usable offline.
TIKTOKEN_FILE_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
}


def _tiktoken_cached(encoding: str) -> bool:
    """Whether tiktoken can load ``encoding`` without the network (mirrors its cache lookup)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    expected = TIKTOKEN_FILE_SHA256.get(encoding)
    if not cache_dir or expected is None:  # "" turns tiktoken's cache off: always downloads
        return False
    key = hashlib.sha1(TIKTOKEN_URL.format(encoding=encoding).encode()).hexdigest()
    try:
        with open(os.path.join(cache_dir, key), "rb") as cached:
            return hashlib.file_digest(cached, "sha256").hexdigest() == expected
    except OSError:
        return False


def _estimate(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE)


def token_counter(model: str) -> tuple[Callable[[str], int], str]:
    """A function counting the tokens of a text for ``model``, and how it counts."""
    method = settings.FINETUNING_TOKEN_COUNTER
    if method != "estimate":
        encoding_name = _encoding_name(model)
        if method == "tiktoken" or _tiktoken_cached(encoding_name):
            try:
                import tiktoken

                encoding = tiktoken.get_encoding(encoding_name)
            except Exception:  # no network, a corrupt cache: count anyway, and say how
                pass
            else:
                return (
                    lambda text: len(encoding.encode(text, disallowed_special=())),
                    TIKTOKEN_LABEL.format(encoding=encoding_name),
                )
    return _estimate, ESTIMATE_LABEL


def token_limit(model: str) -> int:
    for prefix, limit in sorted(
        settings.FINETUNING_MODEL_TOKEN_LIMITS.items(), key=lambda item: -len(item[0])
    ):
        if model.startswith(prefix):
            return limit
    return settings.FINETUNING_DEFAULT_TOKEN_LIMIT


def epochs_for_estimate(model_parameters: dict | None) -> int:
    value = (model_parameters or {}).get("n_epochs", "auto")
    if isinstance(value, str) and value.strip() == "auto":
        return settings.FINETUNING_AUTO_EPOCHS_ESTIMATE
    return int(float(value))


# --- Building the file -----------------------------------------------------------------


def system_message(connection: DatabaseConnection) -> str:
    return SYSTEM_INSTRUCTIONS.format(
        dialect=connection.get_dialect_display(), schema=connection.schema.strip()
    )


def prompt_messages(system: str, question: str) -> list[dict]:
    """The messages a model is asked with: one definition for training and evaluation.

    An evaluation must ask the fine-tuned model exactly what it was trained on, so the
    training example is this prompt plus the answer.
    """
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def _records_in_order(ids: list[str]) -> Iterator[tuple[str, GoldenRecord | None]]:
    """(id, record or None when deleted) for each of ``ids``, in the stored order.

    A record may sit on another connection (moved before moves were refused, or by hand):
    the caller tells that apart from a deleted one, so the job's message stays true.
    """
    for start in range(0, len(ids), RECORDS_CHUNK_SIZE):
        chunk = ids[start : start + RECORDS_CHUNK_SIZE]
        # By primary key only: adding the connection to the WHERE clause lets SQLite pick
        # the (connection, created_at) index and scan the whole connection for each chunk.
        found = {
            record.pk: record
            for record in GoldenRecord.objects.filter(pk__in=chunk)
            .only("id", "db_connection_id", "question", "sql")
            .order_by()
            .iterator(chunk_size=RECORDS_CHUNK_SIZE)
        }
        for record_id in chunk:
            yield record_id, found.get(record_id)


@dataclass(frozen=True)
class _FileRules:
    """What differs between the training and the validation file: which ids, which words."""

    ids: list[str]
    minimum: int
    too_few: str
    missing: str
    moved: str


@dataclass
class _Tally:
    size: int = 0
    examples: int = 0
    tokens: int = 0
    missing: int = 0
    moved: int = 0
    too_long: int = 0
    longest: tuple[int, str] = (0, "")
    token_counting: str = ""


def _example_line(system: str, record: GoldenRecord) -> bytes:
    for field in ("question", "sql"):
        if not getattr(record, field).strip():
            raise TrainingDataRejected(
                EMPTY_MESSAGE_MESSAGE.format(record_id=record.pk, field=field)
            )
    example = {
        "messages": [
            *prompt_messages(system, record.question),
            {"role": "assistant", "content": record.sql},
        ]
    }
    return json.dumps(example, ensure_ascii=False).encode() + b"\n"


def _write_examples(finetuning: Finetuning, rules: _FileRules, out: BinaryIO, digest) -> _Tally:
    connection = DatabaseConnection.objects.get(pk=finetuning.db_connection_id)
    system = system_message(connection)
    count_tokens, counting_label = token_counter(finetuning.model_name)
    limit = token_limit(finetuning.model_name)
    fixed_tokens = (
        TOKENS_PER_EXAMPLE
        + 3 * TOKENS_PER_MESSAGE
        + count_tokens(system)
        + sum(count_tokens(role) for role in ("system", "user", "assistant"))
    )
    tally = _Tally(token_counting=counting_label)
    for record_id, record in _records_in_order(rules.ids):
        if record is None:
            tally.missing += 1
            continue
        if record.db_connection_id != finetuning.db_connection_id:
            tally.moved += 1
            continue
        line = _example_line(system, record)
        out.write(line)
        digest.update(line)
        tally.size += len(line)
        tally.examples += 1
        tokens = fixed_tokens + count_tokens(record.question) + count_tokens(record.sql)
        tally.tokens += tokens
        tally.too_long += tokens > limit
        if tokens > tally.longest[0]:
            tally.longest = (tokens, record_id)
    return tally


def _rejection(finetuning: Finetuning, rules: _FileRules, tally: _Tally) -> str | None:
    if tally.missing or tally.moved:
        total = len(rules.ids)
        reasons = [
            rules.missing.format(missing=tally.missing, total=total) if tally.missing else "",
            rules.moved.format(moved=tally.moved, total=total) if tally.moved else "",
        ]
        return " ".join(reason for reason in reasons if reason)
    if tally.examples < rules.minimum:
        return rules.too_few.format(count=tally.examples, minimum=rules.minimum)
    if tally.too_long:
        return TOO_LONG_MESSAGE.format(
            count=tally.too_long,
            model=finetuning.model_name,
            limit=token_limit(finetuning.model_name),
            record_id=tally.longest[1],
            tokens=tally.longest[0],
        )
    return None


def _write_file(*, finetuning: Finetuning, rules: _FileRules, out: BinaryIO) -> TrainingFileSummary:
    digest = hashlib.sha256()
    tally = _write_examples(finetuning, rules, out, digest)
    problem = _rejection(finetuning, rules, tally)
    if problem:
        raise TrainingDataRejected(problem)
    epochs = epochs_for_estimate(finetuning.model_parameters)
    return TrainingFileSummary(
        examples=tally.examples,
        tokens=tally.tokens,
        max_example_tokens=tally.longest[0],
        n_epochs_for_estimate=epochs,
        estimated_billed_tokens=tally.tokens * epochs,
        token_counting=tally.token_counting,
        bytes=tally.size,
        sha256=digest.hexdigest(),
    )


def write_training_file(*, finetuning: Finetuning, out: BinaryIO) -> TrainingFileSummary:
    """Write the job's JSONL to ``out``, check it, and summarise it.

    Raises ``TrainingDataRejected`` when the provider would refuse the data.
    """
    rules = _FileRules(
        ids=finetuning.golden_records,
        minimum=validation.GOLDEN_RECORDS_MINIMUM,
        too_few=TOO_FEW_EXAMPLES_MESSAGE,
        missing=MISSING_RECORDS_MESSAGE,
        moved=MOVED_RECORDS_MESSAGE,
    )
    return _write_file(finetuning=finetuning, rules=rules, out=out)


def write_validation_file(*, finetuning: Finetuning, out: BinaryIO) -> TrainingFileSummary:
    """The same for the job's held-out records: same format, same checks, one example minimum.

    (OpenAI documents its ten-example minimum for the training file only.) Its summary's
    billed-token estimate is not billed as training; it says what validating reads.
    """
    rules = _FileRules(
        ids=finetuning.validation_golden_records,
        minimum=VALIDATION_EXAMPLES_MINIMUM,
        too_few=TOO_FEW_VALIDATION_EXAMPLES_MESSAGE,
        missing=MISSING_VALIDATION_RECORDS_MESSAGE,
        moved=MOVED_VALIDATION_RECORDS_MESSAGE,
    )
    return _write_file(finetuning=finetuning, rules=rules, out=out)
