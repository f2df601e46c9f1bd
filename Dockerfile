# syntax=docker/dockerfile:1
# Pigeon's one image: every service runs from it, chosen by its command (`pigeon api`,
# `pigeon supplier-bridge`, `pigeon persister`, `pigeon monitor`, `pigeon migrate`, …).
#   docker build -t pigeon .
#   docker run --rm -e KAFKA_BROKERS=… -e MYSQL_URL=… -e REDIS_URL=… pigeon api
# test/image/stage.sh performs these same steps in a directory and starts every service from it
# (test/image.test.ts): keep the two in step when a step changes here.

ARG NODE_IMAGE=node:24-bookworm-slim
# Extra `npm ci` flags: `--offline` builds from an npm cache mounted at /root/.npm, where the
# registry is out of reach (test/image/buildah-local.sh).
ARG NPM_CI_FLAGS=""

# --- build: compile the services to dist/ with every dependency, dev ones included.
FROM ${NODE_IMAGE} AS build
ARG NPM_CI_FLAGS
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are skipped on purpose: better-sqlite3 loads its bundled prebuilt binary, and
# nothing else needs one, so no compiler or network access beyond the registry is required.
RUN npm ci --ignore-scripts --no-audit --no-fund $NPM_CI_FLAGS
# The context as .dockerignore filters it; `build:image` compiles the services without their
# tests (tsconfig.image.json) and copies the migrations beside them.
COPY . .
RUN npm run build:image

# --- deps: production dependencies only, from the same lockfile.
FROM ${NODE_IMAGE} AS deps
ARG NPM_CI_FLAGS
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund $NPM_CI_FLAGS

# --- runtime: node, production node_modules and the compiled services, nothing else.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json ./
# The compiled services and the migrations the build copied beside them.
COPY --from=build /src/dist dist
# `pigeon` on PATH, as package.json's bin names it.
RUN ln -s /app/dist/bin/cli.js /usr/local/bin/pigeon && chmod +x /app/dist/bin/cli.js
# The Node image's unprivileged user (uid 1000), which the k8s manifests' runAsUser names; the
# files stay root's, so a compromised process cannot rewrite its own code.
USER node
# Every service serves /healthz on PORT (api 3000 by default; k8s sets each service's). Node's own
# fetch, as the slim image has no curl. Kubernetes ignores this and uses its probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/bin/cli.js"]
CMD ["embedded"]
