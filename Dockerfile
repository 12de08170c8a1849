# certnotify: `certnotify serve` (gunicorn + one worker) as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CERTNOTIFY_CONFIG=/app/config.yaml \
    CERTNOTIFY_DB=/data/certnotify.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home certnotify
COPY config.yaml ./

USER certnotify
VOLUME ["/data"]
EXPOSE 8080
# 200 while the database answers; the JSON body says whether the worker keeps up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["certnotify", "serve"]
