"""Benchmark: records evaluated per second against the fake provider (200 ms per answer).

Each record is asked of two models (fine-tuned and base) through the real OpenAI SDK and
the fake OpenAI server, whose every chat answer takes ANSWER_DELAY, then scored (exact
match and execution match on an SQLite file). The figure is records per second at the
chosen concurrency (FINETUNING_EVALUATION_CONCURRENCY, or the first argument), beside the
floor measured in the same run: the same work at concurrency 1. Bounded in time: the floor
runs on fewer records, and the ideal (concurrency / delay / 2 models) is printed beside.

    .venv/bin/python benchmarks/evaluation.py [CONCURRENCY] [RECORDS]
"""

import os
import sys
import time

from _django import PROJECT_DIR, setup

ANSWER_DELAY = 0.2
FLOOR_RECORDS = 10


def _evaluate(connection, records, models, concurrency: int) -> tuple[float, int, int]:
    """Seconds to ask and score ``records``; answers and calls counted."""
    from finetunings.evaluation import Scorer, ask_models, questions_for
    from finetunings.providers import get_provider

    answers = {}
    started = time.perf_counter()
    result = ask_models(
        questions=questions_for(connection, records),
        models=models,
        provider=get_provider("openai"),
        store=lambda answer: answers.__setitem__((answer.record_id, answer.model), answer),
        concurrency=concurrency,
    )
    with Scorer.for_connection(connection, allow_execution=True) as scorer:
        for record in records:
            for model in models:
                scorer.score(gold_sql=record.sql, predicted_sql=answers[record.pk, model].sql)
    return time.perf_counter() - started, len(answers), result.asked


def main(concurrency: int, count: int) -> None:
    workdir = setup()
    sys.path.insert(0, str(PROJECT_DIR))
    from django.conf import settings

    from finetunings import services
    from finetunings.models import GoldenRecord
    from finetunings.providers import reset_providers
    from tests.fakes.openai_server import FakeOpenAI
    from tests.helpers import evaluation_data as data

    fake = FakeOpenAI().start()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_MAX_RETRIES = 0
    reset_providers()
    fake.chat_delay = ANSWER_DELAY
    models = [data.FINE_TUNED_MODEL, data.BASE_MODEL]
    for model in models:
        fake.answer_chat(model, {}, default="SELECT count(*) FROM orders")
    connection = services.database_connection_create(
        alias="bench-evaluation",
        dialect="sqlite",
        connection_uri=data.create_sqlite_database(workdir / "shop.db"),
        schema=data.SCHEMA,
    )
    records = GoldenRecord.objects.bulk_create(
        GoldenRecord(
            db_connection=connection,
            question=f"{data.CASES[i % len(data.CASES)].question} (variant {i})",
            sql=data.CASES[i % len(data.CASES)].gold,
        )
        for i in range(count)
    )
    try:
        _evaluate(connection, records[:1], models, 1)  # warm-up: SDK import, first connection
        floor_seconds, _, _ = _evaluate(connection, records[:FLOOR_RECORDS], models, 1)
        seconds, answered, asked = _evaluate(connection, records, models, concurrency)
    finally:
        fake.stop()
    floor_rate = FLOOR_RECORDS / floor_seconds
    rate = count / seconds
    ideal = concurrency / ANSWER_DELAY / len(models)
    print(f"answer delay {ANSWER_DELAY * 1000:.0f} ms, {len(models)} models per record")
    print(f"concurrency 1 (floor): {floor_rate:6.2f} records/s ({FLOOR_RECORDS} records)")
    print(
        f"concurrency {concurrency}:         {rate:6.2f} records/s ({count} records, "
        f"{asked} model calls, {answered} answers scored)"
    )
    print(f"ratio to the floor: {rate / floor_rate:.2f}x (ideal {ideal / floor_rate:.2f}x)")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    default_concurrency = int(os.environ.get("FINETUNING_EVALUATION_CONCURRENCY", "4"))
    main(
        arguments[0] if arguments else default_concurrency,
        arguments[1] if len(arguments) > 1 else 40,
    )
