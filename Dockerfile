# Hearth in a container: the embedded SQLite store lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEARTH_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY bot ./bot
COPY channels ./channels
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home hearth && mkdir /data && chown hearth /data

USER hearth
VOLUME ["/data"]
EXPOSE 8780
ENTRYPOINT ["hearth"]
CMD ["run"]
