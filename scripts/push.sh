#!/bin/sh
# Push images built by scripts/build.sh with the tags a publish gives them (scripts/matrix.py tags).
# Usage: scripts/push.sh [--dry-run] [TAG...]      TAG defaults to every image of the matrix
# Env: REGISTRIES  space-separated repositories to push to
#                  (default: docker.io/$DOCKERHUB_NAMESPACE/aiohttp-nginx)
#      IMAGE       local repository the images were built as (default: aiohttp-nginx)
#      DATE        date of the dated tags, YYYY-MM-DD (default: today, UTC)
# The workflows push with buildx for two platforms; this pushes the local platform only.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
matrix() { python3 "$root/scripts/matrix.py" "$@"; }

dry_run=
if [ "${1:-}" = "--dry-run" ]; then
    dry_run=1
    shift
fi
registries=${REGISTRIES:-${DOCKERHUB_NAMESPACE:+docker.io/$DOCKERHUB_NAMESPACE/aiohttp-nginx}}
if [ -z "$registries" ]; then
    echo "push.sh: set REGISTRIES (e.g. 'docker.io/me/aiohttp-nginx ghcr.io/me/aiohttp-nginx') or DOCKERHUB_NAMESPACE" >&2
    exit 2
fi
tags=${*:-$(matrix list)}
date=${DATE:-$(date -u +%Y-%m-%d)}

# Work out every "source reference" pair first, so a bad tag stops the push before anything is sent.
pairs=
for tag in $tags; do
    set --
    for registry in $registries; do
        set -- "$@" --registry "$registry"
    done
    refs=$(matrix tags --date "$date" --image "$tag" "$@")
    for ref in $refs; do
        pairs="$pairs ${IMAGE:-aiohttp-nginx}:$tag=$ref"
    done
done

for pair in $pairs; do
    source=${pair%%=*}
    ref=${pair#*=}
    if [ -n "$dry_run" ]; then
        echo "docker tag $source $ref"
        echo "docker push $ref"
    else
        docker tag "$source" "$ref"
        docker push "$ref"
    fi
done
