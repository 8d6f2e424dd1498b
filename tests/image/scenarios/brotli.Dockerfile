# What a user adds to get brotli: the distribution's nginx module, on top of their app image.
# Built by tests/image/test_edge.py FROM the full test app's image.
ARG BASE=aiohttp-nginx:python3.13
FROM ${BASE}
# hadolint ignore=DL3008,DL3018
RUN if command -v apk >/dev/null; then apk add --no-cache nginx-mod-http-brotli; \
    else apt-get update && apt-get install -y --no-install-recommends libnginx-mod-http-brotli-filter \
    && rm -rf /var/lib/apt/lists/*; fi
