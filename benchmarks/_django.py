"""Set up Django for a benchmark: a throw-away SQLite database unless DATABASE_URL is set."""

import os
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def setup() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="finetuning-benchmark-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'benchmark.sqlite3'}")
    os.environ.setdefault("FINETUNING_MEDIA_ROOT", str(workdir / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetuning_project.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(PROJECT_DIR))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return workdir
