"""Set up Django for a benchmark, on a throw-away database.

SQLite in a temporary folder, or BENCHMARK_DATABASE_URL (never DATABASE_URL, so a benchmark
cannot fill the database the service runs on).
"""

import os
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _import_standard_http() -> None:
    """Load the standard library's ``http`` before anything asks for it.

    A script's own folder comes first on ``sys.path``, and ``benchmarks/http.py`` has the
    same name: without this, Django's ``from http import cookies`` would find the benchmark.
    Once the real package is loaded, its submodules come from its own folder.
    """
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if Path(entry or os.curdir).resolve() != here]
    try:
        import http  # noqa: F401
    finally:
        sys.path[:] = saved


_import_standard_http()


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
