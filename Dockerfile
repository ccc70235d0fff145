# syntax=docker/dockerfile:1
#
# thingspace-fota-exporter image. Build and run (docs/deployment.md has the details):
#
#   docker build -t thingspace-fota-exporter .
#   docker run --rm --read-only -p 9775:9775 -e THINGSPACE_ACCOUNTS=... \
#     -e THINGSPACE_CLIENT_ID_FILE=/run/secrets/client_id ... thingspace-fota-exporter
#
# The same image runs the ThingSpace simulator with `--entrypoint node ... dist/simulator/cli.js`
# (docker-compose.yml does).
#
# test/deploy/image.test.ts replays this file without Docker: it interprets every instruction below
# (COPY, RUN, ENV, WORKDIR, USER, HEALTHCHECK, ENTRYPOINT) and fails on one it does not know, so keep
# RUN steps to the commands it replays (npm ci, npm run build, npm cache clean) or teach it new ones.

ARG NODE_VERSION=20

# ---- build: dev dependencies, TypeScript compiled to dist/ ------------------------------------------
FROM node:${NODE_VERSION}-alpine AS build
WORKDIR /build
# The manifests first, so the dependency layer is cached until they change. No install scripts: the
# build needs none, and none of a dependency's should run here.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/ only ------------------------------------------------
FROM node:${NODE_VERSION}-alpine AS runtime
# VERSION follows package.json (a test checks); the others are set by a release build, e.g.
#   --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ARG NODE_VERSION
ARG VERSION=0.1.0
ARG REVISION=
ARG CREATED=
ARG SOURCE=
LABEL org.opencontainers.image.title="thingspace-fota-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Verizon ThingSpace firmware-over-the-air (FOTA) upgrade reports" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-alpine"

# WEB_LISTEN_ADDRESS is the exporter's default, stated here because the HEALTHCHECK reads it. Secrets
# come from files named by THINGSPACE_CLIENT_ID_FILE, THINGSPACE_CLIENT_SECRET_FILE,
# THINGSPACE_USERNAME_FILE and THINGSPACE_PASSWORD_FILE (Docker or Kubernetes secrets), never from
# the image.
ENV NODE_ENV=production \
    WEB_LISTEN_ADDRESS=:9775

WORKDIR /app
# package.json is needed at run time too: the exporter reads its version from it.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist ./dist

# The files above stay owned by root and read-only to the process, so the container runs with a
# read-only root filesystem (`docker run --read-only`, readOnlyRootFilesystem in Kubernetes). The one
# place the exporter writes is --storage.path (its state across restarts), a volume mounted here in
# compose and Kubernetes: the directory belongs to the runtime user, so that a new named volume starts
# writable (Docker copies the mount point's owner into it).
RUN mkdir -p /var/lib/thingspace-fota-exporter && chown 1000:1000 /var/lib/thingspace-fota-exporter
# Numeric, so Kubernetes' runAsNonRoot can check it; uid 1000 is the image's `node` user.
USER 1000:1000

EXPOSE 9775

# No curl in the image: Node's own fetch asks /-/healthy on the port of WEB_LISTEN_ADDRESS (loopback
# when the address is :port or a wildcard). With --web.config.file (TLS or basic auth) replace it,
# e.g. `docker run --no-healthcheck`, or probe from outside.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const a=process.env.WEB_LISTEN_ADDRESS||':9775',i=a.lastIndexOf(':');let h=a.slice(0,i).replace(/^\\[|\\]$/g,'');if(!h||h==='0.0.0.0'||h==='::')h='127.0.0.1';if(h.includes(':'))h='['+h+']';fetch('http://'+h+':'+a.slice(i+1)+'/-/healthy',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM itself. The exporter handles SIGTERM and SIGINT (it
# stops within 5 s, exit 0) and starts no child processes, so no init process is needed to forward
# signals or reap zombies; `docker run --init` does no harm.
ENTRYPOINT ["node", "dist/cli.js"]
