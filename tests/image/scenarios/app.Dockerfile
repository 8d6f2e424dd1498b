# What a user writes: FROM the image under test, their app in /app.
# Built by tests/image/conftest.py with the build context tests/apps/<app>.
ARG BASE=aiohttp-nginx:python3.13
FROM ${BASE}
COPY . /app/
