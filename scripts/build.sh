#!/bin/sh
# Build ${IMAGE:-aiohttp-nginx}:TAG from docker-images/TAG.dockerfile, with the repository root as context.
# Usage: scripts/build.sh TAG [docker build options...]   e.g. scripts/build.sh python3.12-alpine
# Env: IMAGE (repository name), BASE_IMAGE (e.g. a local stand-in for the official base).
#      NGINX_VERSION (the distro's nginx package version to install and label; unset: asked of the
#      base's package index by scripts/nginx_version.py; empty: unpinned).
# CREATED is the commit time, not the build time: rebuilding the same commit gives the same image.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-}
dockerfile="$root/docker-images/$tag.dockerfile"
case $tag in
    */* | '') false ;;
    *) [ -f "$dockerfile" ] ;;
esac || {
    echo "build.sh: unknown tag '$tag': no docker-images/$tag.dockerfile (tags: python3 scripts/matrix.py json)" >&2
    exit 2
}
shift

if [ -z "${NGINX_VERSION+set}" ]; then
    NGINX_VERSION=$(python3 "$root/scripts/nginx_version.py" "$tag" ${BASE_IMAGE:+--base "$BASE_IMAGE"})
fi

set -- --file "$dockerfile" --tag "${IMAGE:-aiohttp-nginx}:$tag" \
    --build-arg "VERSION=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)" \
    --build-arg "REVISION=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg "CREATED=$(git -C "$root" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --build-arg "NGINX_VERSION=$NGINX_VERSION" \
    ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} "$@"
exec docker build "$@" "$root"
