#!/usr/bin/env bash
# Builds the image of deploy/Dockerfile with buildah (chroot isolation, no container engine),
# on a Debian bookworm base made here with debootstrap, from a wheelhouse made on this host;
# then runs `gvi-sanctions --help` and `policy validate` inside it, as its own user.
# Usage: deploy/image/build.sh [TAG]        (make image)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
tag="${1:-localhost/gvi-sanctions:dev}"
base="localhost/gvi-debian-python:bookworm"
work="${GVI_IMAGE_WORK:-$here/.image-work}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
storage=(--storage-driver vfs)
cd "$here"

if ! buildah "${storage[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  rm -rf "$work/rootfs"
  mkdir -p "$work"
  # The slim base's parts: Python 3.11 (bookworm's python3), venv, CA certificates, and the
  # tools the Dockerfile uses to add its user.
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
    bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  container="$(buildah "${storage[@]}" from scratch)"
  buildah "${storage[@]}" copy --quiet "$container" "$work/rootfs" /
  buildah "${storage[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
  buildah "${storage[@]}" commit --quiet "$container" "$base" >/dev/null
  buildah "${storage[@]}" rm "$container" >/dev/null
fi

# The wheelhouse: every pinned dependency, the project and its build backend, made here.
rm -f deploy/wheelhouse/*.whl
.venv/bin/pip wheel --quiet --disable-pip-version-check --wheel-dir deploy/wheelhouse \
  -c constraints.txt . "setuptools>=69" wheel

buildah "${storage[@]}" bud --quiet --isolation chroot --layers=false --format docker \
  --build-arg "BASE=$base" \
  -f deploy/Dockerfile -t "$tag" .
echo "built $tag"
