#!/usr/bin/env bash
# usage: test/image/buildah-local.sh <debian bookworm rootfs>
#
# Builds the Dockerfile with buildah where no registry can be reached for node:24-bookworm-slim:
# a stand-in base is made from a Debian rootfs (e.g. `debootstrap --variant=minbase bookworm DIR`)
# plus this machine's node and npm, with the official image's `node` user (uid 1000). Not part of
# CI, which checks the image's contents with stage.sh; this shows the Dockerfile itself builds.
#   apt-get install buildah debootstrap crun
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rootfs="${1:?usage: buildah-local.sh <rootfs>}"
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"

base=$(buildah from scratch)
trap 'buildah rm "$base" >/dev/null 2>&1 || true' EXIT
buildah copy "$base" "$rootfs" / >/dev/null
buildah copy "$base" "$node_bin" /usr/local/bin/node >/dev/null
buildah copy "$base" "$npm_dir" /usr/local/lib/node_modules/npm >/dev/null
buildah run --isolation chroot "$base" -- sh -c \
  'ln -sf /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm &&
   groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$base"
buildah commit --quiet "$base" localhost/pigeon-node-base:24 >/dev/null

# npm installs from this machine's npm cache, offline: the registry's TLS chain as seen from here
# is not the base image's to trust.
buildah bud --isolation chroot --layers=false --format docker --volume "$HOME/.npm:/root/.npm" \
  --build-arg NODE_IMAGE=localhost/pigeon-node-base:24 --build-arg NPM_CI_FLAGS=--offline \
  -t localhost/pigeon:dev "$repo"
