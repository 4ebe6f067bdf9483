import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetuning_project.settings")

from finetuning_project.chunked import ChunkedBodyMiddleware

application = ChunkedBodyMiddleware(get_wsgi_application())
