#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock, and that Debian's
# golang-go (needed by scripts/build-base-images.sh) is installed.
#
# - installs docker.io / golang-go with apt when missing (apt-get update first)
# - starts dockerd in the background (own session, log in $DOCKERD_LOG) unless
#   `docker info` already works or a dockerd is already starting up
# - waits up to $DOCKER_START_TIMEOUT seconds (default 60) for `docker info`
#
# Idempotent: a second run with a working engine does nothing. Must run as root.
set -euo pipefail

readonly DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
readonly TIMEOUT=${DOCKER_START_TIMEOUT:-60}
readonly SOCK=/var/run/docker.sock
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '[start-docker] %s\n' "$*" >&2; }
die() { printf '[start-docker] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (needs apt-get and dockerd)"

# --------------------------------------------------------------- packages
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
if ((${#missing[@]})); then
  # de-duplicate
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
  hash -r
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
command -v go >/dev/null 2>&1 || die "go still missing after installing golang-go"

# ----------------------------------------------------------------- engine
if docker info >/dev/null 2>&1; then
  log "docker engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
  exit 0
fi

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is running but not answering yet: waiting"
else
  # A stale pid file from a dead dockerd would stop the new one from starting.
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  # A docker0 bridge that outlived its dockerd may not be dockerd's own (one
  # made by hand takes the MAC of its ports, which changes as containers come
  # and go, stalling open connections): let dockerd create it afresh.
  if command -v ip >/dev/null 2>&1 && ip link show docker0 >/dev/null 2>&1; then
    log "removing the docker0 bridge left without a dockerd; dockerd recreates it"
    ip link delete docker0 || true
  fi
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  log "starting dockerd (log: $DOCKERD_LOG)"
  # New session, no inherited stdio: CI and the caller's pipes must not wait on it.
  setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 &
  dockerd_pid=$!
  disown "$dockerd_pid" 2>/dev/null || true
fi

deadline=$((SECONDS + TIMEOUT))
until [[ -S $SOCK ]] && docker info >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    log "last lines of $DOCKERD_LOG:"
    tail -n 25 "$DOCKERD_LOG" >&2 2>/dev/null || true
    die "docker engine did not answer on $SOCK within ${TIMEOUT}s"
  fi
  if [[ -n ${dockerd_pid:-} ]] && ! kill -0 "$dockerd_pid" 2>/dev/null && ! pgrep -x dockerd >/dev/null 2>&1; then
    log "last lines of $DOCKERD_LOG:"
    tail -n 25 "$DOCKERD_LOG" >&2 2>/dev/null || true
    die "dockerd exited during startup"
  fi
  sleep 0.5
done
log "docker engine ready ($(docker info --format '{{.ServerVersion}}' 2>/dev/null)) after $((SECONDS))s"
