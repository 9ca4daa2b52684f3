# Hearth in a container: the embedded SQLite store lives on the /data volume.
#
#   docker build -t hearth .
#   docker run -e ANTHROPIC_API_KEY -e TELEGRAM_BOT_TOKEN -v hearth-data:/data hearth
#
# With a config file, mount it and point HEARTH_CONFIG at it (see docker-compose.yml); its
# data_dir must be /data. `docker stop` waits 10 s before it kills; give it longer than
# shutdown.grace (25 s by default): `docker stop -t 30`, or stop_grace_period in compose.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARTH_DATA_DIR=/data \
    HEARTH_HEALTH_URL=http://127.0.0.1:8780/healthz

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY bot ./bot
COPY channels ./channels
COPY config ./config
RUN pip install . \
    && useradd --create-home --uid 10001 hearth \
    && mkdir /data \
    && chown hearth:hearth /data

USER hearth
VOLUME ["/data"]
EXPOSE 8780
# Liveness of the process; readiness (store, channels, disk, providers) is /readyz. The slim image
# has no curl, so Python asks. Set HEARTH_HEALTH_URL when server.port is not 8780.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEARTH_HEALTH_URL'], timeout=4)"]
# SIGTERM starts the graceful shutdown (in-flight replies finish within shutdown.grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["hearth"]
CMD ["run"]
