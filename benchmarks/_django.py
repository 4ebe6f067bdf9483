"""Set up Django for a benchmark, on a throw-away database.

SQLite in a temporary folder, or BENCHMARK_DATABASE_URL (never DATABASE_URL, so a benchmark
cannot fill the database the service runs on).
"""

import os
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def setup() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="finetuning-benchmark-"))
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCHMARK_DATABASE_URL", f"sqlite:///{workdir / 'benchmark.sqlite3'}"
    )
    os.environ["FINETUNING_MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetuning_project.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(PROJECT_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return workdir
