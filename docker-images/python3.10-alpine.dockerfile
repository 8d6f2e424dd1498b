# generated from docker-images/Dockerfile.template by scripts/generate.py — do not edit
# Build context: the repository root (scripts/build.sh). BASE_IMAGE may be
# overridden, e.g. with a local stand-in for the official image.
ARG BASE_IMAGE=python:3.10-alpine3.23

# Stage 1: the package and its dependencies under /install, their native
# modules stripped of debug symbols (uvloop's alone carry ~12 MB of them).
# Dependencies come from the lock (exact versions and hashes, wheels only,
# scripts/lock.py); the package itself is built with the locked setuptools.
FROM ${BASE_IMAGE} AS packages
RUN apk add --no-cache binutils
COPY requirements/python3.10.txt /tmp/aiohttp-nginx-src/requirements.txt
COPY requirements/python3.10-build.txt /tmp/aiohttp-nginx-src/build-requirements.txt
COPY pyproject.toml README.md /tmp/aiohttp-nginx-src/
COPY aiohttp_nginx_base /tmp/aiohttp-nginx-src/aiohttp_nginx_base
RUN export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    && pip install --require-hashes --no-deps --only-binary :all: -r /tmp/aiohttp-nginx-src/build-requirements.txt \
    && pip install --root=/install --require-hashes --no-deps --only-binary :all: -r /tmp/aiohttp-nginx-src/requirements.txt \
    && pip install --root=/install --no-deps --no-build-isolation /tmp/aiohttp-nginx-src \
    && find /install -name '*.so' -exec strip --strip-unneeded {} + \
    && rm -rf /install/usr/local/lib/python*/site-packages/supervisor/tests

# Stage 2: the image users build FROM.
FROM ${BASE_IMAGE}

# NGINX_VERSION: the distro's nginx package version, installed exactly and named by the
# org.aiohttp-nginx-base.nginx label. scripts/build.sh and the workflows ask the base's
# package index for today's (scripts/nginx_version.py), so each build still takes the
# distro's security fixes. Empty: whatever the index has, labelled "unpinned".
ARG NGINX_VERSION=
# Alpine's nginx; its default server goes so that only the generated config
# serves; conf.d and conf.d/server hold the user's additions. apk keeps a
# version given to `apk add` in /etc/apk/world: it is dropped there, so that an
# `apk upgrade` in an image built FROM this one still upgrades nginx.
RUN apk add --no-cache "nginx${NGINX_VERSION:+=$NGINX_VERSION}" \
    && sed -i 's/^nginx=.*$/nginx/' /etc/apk/world \
    && rm -f /etc/nginx/http.d/default.conf \
    && mkdir -p /etc/nginx/conf.d/server

# The user the app runs as (APP_USER): gunicorn's workers switch to it; nginx's master, supervisord and gunicorn's
# arbiter keep root (port 80, RUNTIME_DIR), prestart.sh runs as root before them. APP_USER=root opts back in.
RUN addgroup -S -g 10000 aiohttp \
    && adduser -S -D -u 10000 -G aiohttp -h /home/aiohttp -s /sbin/nologin aiohttp
ENV APP_USER=aiohttp

COPY --from=packages /install/usr/local /usr/local
# bytecode for the modules the stack imports at start-up (see `aiohttp-nginx precompile`)
RUN aiohttp-nginx precompile

COPY docker-images/entrypoint.sh /entrypoint.sh
COPY docker-images/start.sh /start.sh
COPY docker-images/start-reload.sh /start-reload.sh
COPY docker-images/app /app
WORKDIR /app

# The documented defaults, from aiohttp_nginx_base.settings.VARIABLES, so
# `docker inspect` shows them; the runtime applies the same ones when unset.
ENV PYTHONUNBUFFERED=1 \
    APP_DIR=/app \
    VARIABLE_NAME=app \
    LISTEN_PORT=80 \
    NGINX_MAX_UPLOAD=1m \
    COMPRESSED_REQUESTS=refuse \
    NGINX_WORKER_PROCESSES=auto \
    NGINX_CLIENT_CONNECTIONS=0 \
    NGINX_CLIENT_RATE=0 \
    NGINX_WEBSOCKET_TIMEOUT=3600 \
    NGINX_CONF_DIR=/etc/nginx/conf.d \
    PROXY_PROTOCOL=0 \
    NGINX_GZIP=1 \
    STATIC_URL=/static \
    STATIC_INDEX=0 \
    STATIC_MAX_AGE=0 \
    WORKERS_PER_CORE=1 \
    MAX_REQUESTS=0 \
    MAX_REQUESTS_JITTER=0 \
    WORKER_CLASS=aiohttp_nginx_base.worker.Worker \
    TIMEOUT=120 \
    GRACEFUL_TIMEOUT=8 \
    KEEP_ALIVE=75 \
    LOG_LEVEL=info \
    ACCESS_LOG=- \
    ACCESS_LOG_FORMAT=combined \
    ERROR_LOG=- \
    RUNTIME_DIR=/tmp/aiohttp-nginx \
    SHUTDOWN_DELAY=0 \
    STOP_TIMEOUT=10 \
    PROBE_PREFIX=/_aiohttp-nginx \
    HEALTHCHECK_PATH=/
# entrypoint.sh puts apk's site-packages (py3-* packages) on the import path.
ENV ALPINEPYTHON=python3.10

EXPOSE 80
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["aiohttp-nginx", "healthcheck"]
ENTRYPOINT ["/entrypoint.sh"]
CMD ["/start.sh"]

# Last, so that a new revision or date does not invalidate the layers above.
# BASE_DIGEST: the base image's digest this build used (the publish workflow resolves it).
ARG BASE_IMAGE
ARG BASE_DIGEST=unknown
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/aiohttp-nginx-base/aiohttp-nginx-base
LABEL org.opencontainers.image.title="aiohttp-nginx" \
      org.opencontainers.image.description="aiohttp behind nginx and gunicorn, supervised by supervisord (Python 3.10, Alpine)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      org.aiohttp-nginx-base.python="${PYTHON_VERSION}" \
      org.aiohttp-nginx-base.nginx="${NGINX_VERSION:-unpinned}" \
      org.aiohttp-nginx-base.aiohttp="3.14.5" \
      org.aiohttp-nginx-base.gunicorn="27.0.1" \
      org.aiohttp-nginx-base.supervisor="4.3.0" \
      org.aiohttp-nginx-base.uvloop="0.23.0"
