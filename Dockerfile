# safetybot: a small image that runs as a non-root user with its data on a volume.
# Secrets (token, master key) are passed at run time, never baked into a layer.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SAFETYBOT_DATA_DIR=/data \
    SAFETYBOT_LOCALES_DIR=/app/locales

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY safetybot ./safetybot
COPY locales ./locales
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin safetybot \
    && mkdir -p /data && chown safetybot /data && chmod 0700 /data

USER safetybot
VOLUME ["/data"]
ENTRYPOINT ["safetybot"]
CMD ["run"]
