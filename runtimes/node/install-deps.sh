#!/bin/sh
# Installs the project's production dependencies, if it declares any.
set -eu
cd /app
if [ ! -f package.json ]; then
  echo "eserveless: no package.json, nothing to install"
  exit 0
fi
if node -e 'const p = require("/app/package.json"); process.exit(Object.keys({ ...p.dependencies, ...p.optionalDependencies }).length > 0 ? 1 : 0)'; then
  echo "eserveless: package.json declares no dependencies, nothing to install"
  exit 0
fi
if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
  echo "eserveless: lockfile found, running npm ci"
  exec npm ci --omit=dev --no-audit --no-fund
fi
echo "eserveless: no lockfile, running npm install (commit package-lock.json for reproducible builds)"
exec npm install --omit=dev --no-audit --no-fund --no-package-lock
