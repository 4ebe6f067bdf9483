"""The project's URLs, and the plain Django views benchmarks/http.py compares them with."""

from django.urls import path

from benchmarks import floor_views
from finetuning_project.urls import handler404, handler500, urlpatterns  # noqa: F401

urlpatterns = [
    path("bench-floor/finetunings", floor_views.job_list),
    path("bench-floor/finetunings/<str:job_id>", floor_views.job_detail),
    *urlpatterns,
]
