"""The floors: the same rows read with one raw SQL query and written with ``json.dumps``.

What the service could not do faster in the same process: no framework between the
database and the bytes. Each floor returns the same JSON content as the API (same keys,
same values: benchmarks/hot_paths.py checks it before timing), so a ratio against it is
the cost of everything else. A job's progress and latest evaluation come from the same
subqueries the API's query has, in the same one query.
"""

import datetime
import json

JOB_TABLE = "finetunings_finetuning"
JOB_COLUMNS = (
    "id, db_connection_id, alias, status, error, model_provider, model_name, "
    "model_parameters, finetuning_file_id, finetuning_job_id, model_id, created_at, "
    "golden_records, metadata, provider_status, status_message, updated_at, finished_at, "
    "cancelled_at, cancelled_by, training_summary, estimated_finish, trained_tokens, "
    "provider_hyperparameters, error_code, error_param, validation_golden_records, "
    "validation_fraction, validation_seed, validation_file_id"
)
# The job's latest training step, and its latest succeeded evaluation's summary.
_LATEST_METRIC = (
    "(SELECT {column} FROM finetunings_finetuningmetric m "
    f"WHERE m.finetuning_id = {JOB_TABLE}.id ORDER BY m.step DESC LIMIT 1)"
)
DERIVED_COLUMNS = (
    f"{_LATEST_METRIC.format(column='step')}, {_LATEST_METRIC.format(column='total_steps')}, "
    f"(SELECT summary FROM finetunings_evaluation e WHERE e.finetuning_id = {JOB_TABLE}.id "
    "AND e.status = 'succeeded' ORDER BY e.created_at DESC, e.id DESC LIMIT 1)"
)
JOB_SELECT = f"SELECT {JOB_COLUMNS}, {DERIVED_COLUMNS} FROM {JOB_TABLE}"
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"


def _time(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite's, stored in UTC
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat().replace("+00:00", "Z")


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def job_dict(row) -> dict:
    (id_, connection, alias, status, error, provider, model, parameters, file_id, job_id,
     model_id, created, records, metadata, provider_status, status_message, updated,
     finished, cancelled, cancelled_by, summary, estimated, tokens, hyper, code,
     param, validation_records, fraction, seed, validation_file, step, total_steps,
     evaluation) = row  # fmt: skip
    return {
        "id": id_,
        "db_connection_id": connection,
        "alias": alias,
        "status": status,
        "error": error,
        "base_llm": {
            "model_provider": provider,
            "model_name": model,
            "model_parameters": _json(parameters),
        },
        "finetuning_file_id": file_id,
        "finetuning_job_id": job_id,
        "model_id": model_id,
        "created_at": _time(created),
        "golden_records": _json(records),
        "metadata": _json(metadata),
        "provider_status": provider_status,
        "status_message": status_message,
        "updated_at": _time(updated),
        "finished_at": _time(finished),
        "cancelled_at": _time(cancelled),
        "cancelled_by": cancelled_by,
        "training_summary": _json(summary),
        "progress": _progress(status, step, total_steps),
        "estimated_finish": _time(estimated),
        "trained_tokens": tokens,
        "hyperparameters": _json(hyper),
        "error_detail": {"code": code, "param": param, "message": error} if error else None,
        "validation_golden_records": _json(validation_records),
        "validation_fraction": fraction,
        "validation_seed": seed,
        "validation_file_id": validation_file,
        "evaluation": _evaluation(_json(evaluation)),
    }


def _progress(status, step, total):
    if step is None:
        return None
    if not total:
        return {"step": step, "total_steps": total, "percent": None}
    percent = 100.0 if status == "succeeded" else min(round(100 * step / total, 1), 100.0)
    return {"step": step, "total_steps": total, "percent": percent}


def _evaluation(summary):
    # The stored summary is what the API shows, but for the time format of finished_at.
    if summary is None:
        return None
    return {**summary, "finished_at": summary["finished_at"].replace("+00:00", "Z")}


def job_page(where: str = "", params=(), limit: int = 100) -> bytes:
    from django.db import connection

    sql = f"{JOB_SELECT} {where} {NEWEST_FIRST} LIMIT {limit + 1}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    body = {"next": None, "previous": None, "results": [job_dict(row) for row in rows[:limit]]}
    return json.dumps(body).encode()


def job_one(job_id: str) -> bytes:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"{JOB_SELECT} WHERE id = %s", [job_id])
        return json.dumps(job_dict(cursor.fetchone())).encode()


def cancel(job_id: str) -> bytes:
    """UPDATE ... RETURNING the answer, and the event INSERT, in one transaction."""
    from django.db import connection, transaction

    now = datetime.datetime.now(datetime.UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {JOB_TABLE} SET status = 'cancelled', provider_status = 'cancelled', "
            "error = 'Fine tuning cancelled by the user', cancelled_at = %s, updated_at = %s, "
            "finished_at = %s, cancelled_by = 'api key bench' "
            f"WHERE id = %s AND status IN ('queued', 'validating_files', 'running') "
            f"RETURNING {JOB_COLUMNS}, {DERIVED_COLUMNS}",
            [now, now, now, job_id],
        )
        row = cursor.fetchone()
        cursor.execute(
            "INSERT INTO finetunings_finetuningevent "
            "(id, finetuning_id, created_at, kind, actor, from_status, to_status, message) "
            "VALUES (%s, %s, %s, 'status_changed', 'api key bench', 'running', 'cancelled', "
            "'Cancelled.')",
            [f"ev{job_id}"[:24], job_id, now],
        )
    return json.dumps(job_dict(row)).encode()


def bulk_insert(body: bytes) -> int:
    """json.loads, then COPY (PostgreSQL) or executemany (SQLite) of plain tuples."""
    import secrets

    from django.db import connection, transaction

    records = json.loads(body)
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        (secrets.token_hex(12), r["db_connection_id"], r["question"], r["sql"], now, now)
        for r in records
    ]
    columns = "id, db_connection_id, question, sql, created_at, updated_at"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            copy_sql = f"COPY finetunings_goldenrecord ({columns}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO finetunings_goldenrecord ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )
    return len(rows)


def training_file(connection_id: str, system: str, out) -> int:
    """A plain loop: one query, one ``json.dumps`` per line, written as it comes."""
    from django.db import connection

    size = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT question, sql FROM finetunings_goldenrecord WHERE db_connection_id = %s "
            "ORDER BY created_at, id",
            [connection_id],
        )
        while rows := cursor.fetchmany(2000):
            for question, sql in rows:
                example = {
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": sql},
                    ]
                }
                line = json.dumps(example, ensure_ascii=False).encode() + b"\n"
                out.write(line)
                size += len(line)
    return size


def replay(queries: list[str]) -> None:
    """Run SQL captured from a page again, raw: the page's own SQL, its floor."""
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql)
            cursor.fetchall()
