"""A client generated from the live schema by openapi-python-client works against the API.

The generator runs locally (no network, no post hooks), on the schema the running server
serves; the test then drives that server through the generated package only.
"""

import importlib
import io
import subprocess
import sys
from http import HTTPStatus

import httpx
import pytest

from finetunings import worker
from finetunings.models import Finetuning, FinetuningStatus, GoldenRecord

PACKAGE = "generated_finetunings_client"


@pytest.fixture
def generated_client(live_server, tmp_path):
    """The package openapi-python-client generates from ``/api/v1/schema``, imported."""
    schema = httpx.get(f"{live_server.url}/api/v1/schema", headers={"Accept": "application/json"})
    assert schema.status_code == HTTPStatus.OK
    (tmp_path / "schema.json").write_bytes(schema.content)
    # No post hooks: they would run ruff from PATH; the code is imported, not read.
    (tmp_path / "config.yaml").write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Every operation generated: a dropped request body or response is a warning.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_bulk_creates_imports_downloads_the_training_file_and_cancels(
    generated_client, live_server, api_key, connection, openai_provider
):
    from generated_finetunings_client import AuthenticatedClient
    from generated_finetunings_client.api.finetunings import (
        finetunings_cancel,
        finetunings_create,
        finetunings_training_file,
    )
    from generated_finetunings_client.api.golden_records import (
        golden_records_create,
        golden_records_import,
    )
    from generated_finetunings_client.models import (
        FinetuningCancelRequest,
        FinetuningCreateRequest,
        GoldenRecordImportRequest,
        GoldenRecordRequest,
    )
    from generated_finetunings_client.types import File

    client = AuthenticatedClient(base_url=live_server.url, token=api_key[1])

    created = golden_records_create.sync_detailed(
        client=client,
        body=[
            GoldenRecordRequest(
                db_connection_id=connection.pk,
                question=f"How many orders are above {i} dollars?",
                sql=f"SELECT count(*) FROM orders WHERE total > {i}",
            )
            for i in range(6)
        ],
    )
    assert created.status_code == HTTPStatus.CREATED
    assert [record.question for record in created.parsed] == [
        f"How many orders are above {i} dollars?" for i in range(6)
    ]

    csv = "question,sql\n" + "".join(
        f"Which customers spent more than {i} dollars?,"
        f"SELECT customer FROM orders WHERE total > {i}\n"
        for i in range(6)
    )
    imported = golden_records_import.sync_detailed(
        client=client,
        body=GoldenRecordImportRequest(
            file=File(payload=io.BytesIO(csv.encode()), file_name="records.csv"),
            db_connection_id=connection.pk,
        ),
    )
    assert imported.status_code == HTTPStatus.OK, imported.content
    assert (imported.parsed.created, imported.parsed.updated) == (6, 0)
    assert GoldenRecord.objects.filter(db_connection=connection).count() == 12

    job = finetunings_create.sync(
        client=client, body=FinetuningCreateRequest(db_connection_id=connection.pk)
    )
    assert len(job.golden_records) == 12
    # The worker builds the training file and hands it to the (fake) provider.
    worker.run_once(worker_id="test-worker", log=lambda line: None)

    training_file = finetunings_training_file.sync_detailed(job.id, client=client)
    assert training_file.status_code == HTTPStatus.OK
    uploaded = openai_provider.files[Finetuning.objects.get(pk=job.id).finetuning_file_id]
    assert training_file.parsed.payload.read() == uploaded["content"]

    cancelled = finetunings_cancel.sync_detailed(
        job.id, client=client, body=FinetuningCancelRequest(metadata={"reason": "generated"})
    )
    assert cancelled.status_code == HTTPStatus.OK, cancelled.content
    assert cancelled.parsed.status.value == FinetuningStatus.CANCELLED
    assert Finetuning.objects.get(pk=job.id).status == FinetuningStatus.CANCELLED
