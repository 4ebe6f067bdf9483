"""Benchmark-only settings: the project's, plus the floor views' URLs (benchmarks/urls.py).

The product's urlconf never carries benchmark views; gunicorn serves this module only in
benchmarks/http.py.
"""

from finetuning_project.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
