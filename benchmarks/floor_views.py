"""The framework's own floor: plain Django views returning the API's JSON from one raw query.

No authentication, serializer or pagination class: what Django itself costs per request,
in the same process, middleware and settings as the product.
"""

from django.http import HttpResponse

from benchmarks import _floors


def job_list(request):
    limit = int(request.GET.get("limit", 50))
    return HttpResponse(_floors.job_page(limit=limit), content_type="application/json")


def job_detail(request, job_id):
    return HttpResponse(_floors.job_one(job_id), content_type="application/json")
