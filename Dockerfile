# A thin image around the same entry point as everywhere else: scripts/serve.
# (Not built in this project's CI: its machines have no image registry. See README.)
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SERVE_SKIP_INSTALL=1 \
    WEB_BIND=0.0.0.0:8000 \
    FINETUNING_MEDIA_ROOT=/data/media \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

WORKDIR /app
RUN useradd --create-home --uid 10001 app && mkdir -p /data/media && chown app /data/media

# Production packages only, hash-checked (the same as scripts/bootstrap --production).
COPY requirements.txt scripts/bootstrap ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt

COPY . .
RUN mkdir -p /app/var && chown -R app /app/var
USER app

EXPOSE 8000
ENTRYPOINT ["scripts/serve"]
CMD ["web"]
