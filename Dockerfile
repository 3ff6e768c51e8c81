# safetybot: a small image that runs as a non-root user with its data on a volume.
# Secrets (token, master key, webhook secret) are given at run time as files or variables,
# never baked into a layer; .dockerignore keeps keys, data and .env files out of the context.
# The install steps below are the ones tests/test_deploy.py replays in a clean virtual environment.
#
# The base image is pinned by digest, so every build starts from the same bytes (a tag moves).
# This is the digest python:3.11-slim resolved to in August 2026: a public `docker build`
# log (github.com/andreylartsev/dbmigrations) shows the tag resolving to it, and
# several public Dockerfiles pin it. Refresh it for security fixes (DEPLOY.md, "Upgrades"): run
#   docker buildx imagetools inspect python:3.11-slim
# and put the "Digest:" it prints in both FROM lines.

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE REUSE.toml ./
COPY requirements/runtime.txt ./requirements/
COPY LICENSES ./LICENSES
COPY safetybot ./safetybot
COPY locales ./locales
# Every dependency from the lock, each file checked against its hash (`make lock` writes it);
# then safetybot itself, which has no hash to check, built offline by the locked setuptools.
RUN python -m venv /venv \
    && /venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt \
    && /venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /venv/bin/pip check \
    && /venv/bin/python -m pip uninstall --yes pip setuptools

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
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
