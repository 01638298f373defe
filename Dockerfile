# eserveless itself. Multi-stage: build with dev dependencies, ship with production ones.
FROM node:20-bookworm-slim AS build
WORKDIR /src
# `npm ci` builds dist/ (the `prepare` script), so the sources come first.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
# In a container eserveless listens on every address of its own network namespace,
# so the published port and the healthcheck reach it (on the host it defaults to loopback).
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data HOST=0.0.0.0
WORKDIR /app
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY package.json github-app.yml ./
COPY runtimes/ runtimes/
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
