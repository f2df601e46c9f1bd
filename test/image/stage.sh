#!/usr/bin/env bash
# usage: test/image/stage.sh <empty-or-absent directory outside the repository>
#
# Performs the Dockerfile's steps without a container engine (no registry to pull a base image
# from here): <dir>/build is the build stage, <dir>/app the runtime image's /app. test/image.test.ts
# then starts every service from <dir>/app alone, so a file or dependency the image lacks fails
# there. Keep the steps in step with the Dockerfile.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
stage="${1:?usage: stage.sh <dir>}"
mkdir -p "$stage"
stage="$(cd "$stage" && pwd)"

# Node resolves a package from every node_modules above the importing file: a staging directory
# below one (the repository's, say) would hide a dependency the image lacks.
dir="$stage"
while [[ "$dir" != / ]]; do
  if [[ -e "$dir/node_modules" ]]; then
    echo "stage.sh: $dir/node_modules would leak into the staged image; stage elsewhere" >&2
    exit 1
  fi
  dir="$(dirname "$dir")"
done
rm -rf "$stage/build" "$stage/app"
mkdir -p "$stage/build" "$stage/app"

# --- build stage: the Dockerfile's `COPY . .`, then `npm run build:image`. Its `npm ci` (all
# dependencies, same lockfile) is the repository's own node_modules, linked rather than
# installed again.
cd "$repo"
# The build context as .dockerignore filters it. Its patterns are relative to the context's root,
# as tar's are when anchored to ./ (`k8s` must not exclude test/k8s).
tar -c --anchored --no-wildcards-match-slash \
  --exclude-from=<(grep -v -e '^#' -e '^$' .dockerignore | sed 's#^#./#') . | tar -x -C "$stage/build"
ln -s "$(readlink -f "$repo/node_modules")" "$stage/build/node_modules"
(cd "$stage/build" && npm run build:image --silent)

# --- deps stage: production dependencies only, from the lockfile. The npm cache serves what it
# has; the registry the rest.
cp package.json package-lock.json "$stage/app/"
(cd "$stage/app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)

# --- runtime: the compiled services beside the production node_modules, nothing else.
rm "$stage/app/package-lock.json"
cp -R "$stage/build/dist" "$stage/app/dist"
chmod +x "$stage/app/dist/bin/cli.js"
rm -rf "$stage/build"
echo "staged image: $stage/app"
