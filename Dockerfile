# safetybot: a small image that runs as a non-root user with its data on a volume.
# Secrets (token, master key, webhook secret) are given at run time as files or variables,
# never baked into a layer; .dockerignore keeps keys, data and .env files out of the context.
# The install step below is the one tests/test_deploy.py replays in a clean virtual environment.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE REUSE.toml ./
COPY LICENSES ./LICENSES
COPY safetybot ./safetybot
COPY locales ./locales
RUN python -m venv /venv \
    && /venv/bin/pip install --no-cache-dir -c constraints.txt . \
    && /venv/bin/python -m pip uninstall --yes pip setuptools

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/venv/bin:$PATH \
    SAFETYBOT_DATA_DIR=/data \
    SAFETYBOT_WEBHOOK_LISTEN=0.0.0.0
COPY --from=build /venv /venv
RUN groupadd --system --gid 10001 safetybot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin safetybot \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && chmod 0700 /data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# Webhook mode listens here; put a TLS reverse proxy in front (DEPLOY.md).
EXPOSE 8080
# Webhook mode: asks /healthz on the local port. Polling: checks the bot's heartbeat file.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["safetybot", "health"]
ENTRYPOINT ["safetybot"]
CMD ["run"]
