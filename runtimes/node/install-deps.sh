#!/bin/sh
# Installs the project's production dependencies and runs its install
# scripts, if it declares any. Runs as the unprivileged build user, whose
# home and npm cache live in /tmp for this step only.
set -eu
cd /app
if [ ! -f package.json ]; then
  echo "eserveless: no package.json, nothing to install"
  exit 0
fi
# npm runs the root package's preinstall, install and postinstall scripts even without dependencies.
if node -e 'const p = require("/app/package.json"); const s = p.scripts || {}; process.exit(Object.keys({ ...p.dependencies, ...p.optionalDependencies }).length > 0 || s.preinstall || s.install || s.postinstall ? 1 : 0)'; then
  echo "eserveless: package.json declares no dependencies nor install scripts, nothing to install"
  exit 0
fi
export HOME=/tmp/eserveless-build-home
export npm_config_cache="$HOME/.npm" npm_config_update_notifier=false
if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
  echo "eserveless: lockfile found, running npm ci"
  set -- ci
else
  echo "eserveless: no lockfile, running npm install (commit package-lock.json for reproducible builds)"
  set -- install --no-package-lock
fi
status=0
npm "$@" --omit=dev --no-audit --no-fund || status=$?
# The cache stays out of the image layer.
node -e 'require("fs").rmSync(process.env.HOME, { recursive: true, force: true })'
exit "$status"
