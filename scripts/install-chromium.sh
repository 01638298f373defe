#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is at /usr/bin/chromium, for the
# browser tests (test/http/dashboard-browser.test.ts drives it with
# playwright-core; no browser is downloaded).
#
# - installs the `chromium` package with apt when /usr/bin/chromium is missing
#   (apt-get update first)
# - checks that it starts: `chromium --headless --version`
#
# Idempotent: with Chromium already installed it only checks it. Must run as
# root when it has to install.
set -euo pipefail

readonly CHROMIUM=/usr/bin/chromium

log() { printf '[install-chromium] %s\n' "$*" >&2; }
die() { printf '[install-chromium] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ ! -x $CHROMIUM ]]; then
  [[ $(id -u) == 0 ]] || die "$CHROMIUM is missing and installing it needs root: run this script as root"
  log "installing chromium with apt"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq -o Dpkg::Use-Pty=0 chromium >/dev/null || die "apt-get install chromium failed"
  [[ -x $CHROMIUM ]] || die "$CHROMIUM still missing after installing chromium"
fi

version=$("$CHROMIUM" --headless --no-sandbox --version 2>/dev/null) || die "$CHROMIUM does not start"
log "ready: $version"
