#!/usr/bin/env bash
# Build eserveless's own image (the one compose.yaml and the README run).
#
# Usage: npm run docker:build -- TAG [--from-host]
#   TAG          the image's name, e.g. eserveless:latest
#   --from-host  reuse this checkout's dist/ and the production packages of its
#                node_modules/ (those package-lock.json does not mark dev) instead
#                of running `npm ci` in the image: for hosts that can neither pull
#                packages nor compile better-sqlite3 in the base. Run `npm ci` (or
#                `npm run build`) first; the base must have the host's libc and
#                Node.js major version (e.g. eserveless-local/node:20 from
#                scripts/build-base-images.sh).
# Environment:
#   NODE_IMAGE   the base image (default node:20-bookworm-slim, or, with
#                --from-host, eserveless-local/node:<host Node.js major>)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[docker-build] %s\n' "$*" >&2; }
die() { printf '[docker-build] ERROR: %s\n' "$*" >&2; exit 2; }

tag="" from_host=0
while (($#)); do
  case $1 in
    --from-host) from_host=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) die "unknown option: $1 (try --help)" ;;
    *)
      [[ -z $tag ]] || die "one TAG only (got '$tag' and '$1')"
      tag=$1 ;;
  esac
  shift
done
[[ -n $tag ]] || die "usage: npm run docker:build -- TAG [--from-host]"
# A reference docker accepts: [host[:port]/]path[:tag], lower-case path.
[[ $tag =~ ^[a-z0-9]([a-z0-9._/:-]{0,254})$ && $tag != *//* ]] || die "'$tag' is not an image name such as eserveless:latest"

start=$EPOCHREALTIME
if ((from_host)); then
  node_image=${NODE_IMAGE:-eserveless-local/node:$(node -p 'process.versions.node.split(".")[0]')}
  [[ -f dist/main.js ]] || die "dist/ is missing: run 'npm ci' or 'npm run build' first"
  [[ -d node_modules ]] || die "node_modules/ is missing: run 'npm ci' first"
  # The production packages, read from the lockfile (npm marks dev-only ones "dev");
  # a package's folder brings its nested node_modules/ along.
  mapfile -d '' -t packages < <(node -e '
    const { existsSync } = require("node:fs");
    const { packages } = require("./package-lock.json");
    const prod = Object.keys(packages).filter((p) => p.startsWith("node_modules/") && !packages[p].dev && existsSync(p));
    const kept = new Set(prod);
    const inKept = (p) => p.split("/node_modules/").slice(0, -1).some((_, i, parts) => kept.has(parts.slice(0, i + 1).join("/node_modules/")));
    for (const p of prod) if (!inKept(p)) process.stdout.write(p + "\0");')
  ((${#packages[@]} > 0)) || die "no production packages found in node_modules/"
  log "building $tag on $node_image from this checkout's dist/ and ${#packages[@]} production packages"
  # The context is a tar on stdin: no .dockerignore (it leaves node_modules/ and dist/ out).
  tar --create --file - --dereference --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    Dockerfile package.json package-lock.json github-app.yml runtimes dist "${packages[@]}" |
    docker build --quiet --build-arg "NODE_IMAGE=$node_image" --build-arg FROM_HOST=1 --tag "$tag" - >/dev/null
else
  node_image=${NODE_IMAGE:-node:20-bookworm-slim}
  log "building $tag on $node_image with npm ci"
  docker build --build-arg "NODE_IMAGE=$node_image" --tag "$tag" . >&2
fi
log "built $tag in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
