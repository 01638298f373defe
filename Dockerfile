# eserveless itself: `npm run docker:build -- TAG` (scripts/docker-build.sh).
# NODE_IMAGE picks the base of both stages (a Debian one by default: better-sqlite3's
# prebuilt binary needs glibc).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# `npm ci` builds dist/ (the `prepare` script), then drops the dev dependencies.
# With FROM_HOST (docker-build.sh --from-host, for hosts that can neither pull nor
# compile), the context already holds dist/ and the production node_modules/.
ARG FROM_HOST=
COPY . ./
RUN if [ -z "$FROM_HOST" ]; then npm ci --no-audit --no-fund && npm prune --omit=dev; fi

FROM ${NODE_IMAGE}
# In a container eserveless listens on every address of its own network namespace,
# so the published port and the healthcheck reach it (on the host it defaults to loopback).
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data HOST=0.0.0.0
WORKDIR /app
# Code and dependencies stay root's, read-only to the server.
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY package.json github-app.yml ./
COPY runtimes/ runtimes/
# Not root: the user `node` (uid 1000 in the node images), owning only /data. It
# reaches the Docker socket through the socket's group, given at run time
# (`--group-add`, compose's DOCKER_GID).
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The flags of `npm start` (package.json): young generation capped at 8 MiB per
# semi-space, see the README's "Memory".
CMD ["node", "--max-semi-space-size=8", "dist/main.js"]
