# nestmq container image: multi-stage, production dependencies only, runs as the non-root `node`
# user, state on the volume /var/lib/nestmq.
#   Build: docker build -t nestmq:0.1.0 .
#   Run:   docker run -p 1883:1883 -p 18883:18883 -v nestmq-data:/var/lib/nestmq nestmq:0.1.0
# CI has no container engine, so this file is not built there. test/e2e/deploy-image.test.ts runs
# its runtime stage's command line (ENTRYPOINT, CMD, ENV, WORKDIR, COPY, the volume) as a non-root
# user in a read-only copy of the files instead; see docs/operations.md.
ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile TypeScript with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts here: only tsc runs in this stage (the `prepare` script would build before src/ is copied).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only. better-sqlite3 is native: its install script fetches a prebuilt
#    binary, or compiles one with the tools installed here (they stay in this stage).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# 3. Runtime: compiled code, production node_modules, the image's config. Files stay owned by
#    root (read-only to the broker); only /var/lib/nestmq (persistence) is the node user's.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# config/container.yaml: config/broker.yaml's settings with the database at /var/lib/nestmq/nestmq.db
# (broker.yaml's data/nestmq.db would be under /app, which the node user cannot write: EACCES).
COPY config/container.yaml ./config/container.yaml
RUN mkdir -p /var/lib/nestmq && chown node:node /var/lib/nestmq
# After the chown: a volume starts as a copy of the image's folder, owned by node. Docker creates an
# anonymous volume when none is given (-v NAME:/var/lib/nestmq keeps it across containers).
VOLUME /var/lib/nestmq
USER node
# MQTT, MQTT over TLS, MQTT over WebSocket, admin HTTP (health, metrics, REST API)
EXPOSE 1883 8883 8080 18883
# Only meaningful with the admin API on its default port 18883 (Kubernetes uses its own probes).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18883/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 here, never npm (npm 11 exits on SIGTERM and leaves the broker running): nestmq handles
# SIGTERM/SIGINT itself (graceful shutdown, exit 0).
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config", "/app/config/container.yaml"]
