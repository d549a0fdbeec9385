# The controller image: Node 24, git for the init container's clone, and the production
# dependencies at /app/node_modules, which the CronJob pods link into their fresh clone of the
# controller source; rolldown among them, with which the init container bundles that clone into
# dist/cli.js (scripts/build.ts), what the ticks run. The source is also at /app, bundled the
# same way, so the image runs on its own too: docker run IMAGE /app/dist/cli.js --help. The build
# also makes the start-up snapshot the ticks start from (dist/snapshot.blob), with this image's
# own Node: a blob starts only in the Node that built it.
#
# The base is a build argument so a machine that cannot pull node:24-slim can build the same
# layers on a local base holding Node 24, npm and git (.ci/run builds one from realk8s's
# local/node-git:24; see test/cluster/README.md).
ARG BASE=node:24-slim
FROM ${BASE}

# git for the init container's clone; a base that already has it (the local one) skips apt.
RUN command -v git >/dev/null \
 || { apt-get update \
   && apt-get install -y --no-install-recommends git ca-certificates \
   && rm -rf /var/lib/apt/lists/*; }

WORKDIR /app

# Only for the build, never in the image's environment: a build behind a TLS-intercepting proxy
# hands npm the proxy's CA as a path mounted into the build (test/cluster/build-image.sh does).
ARG NODE_EXTRA_CA_CERTS

# Dependencies first, so a source change reuses this layer. The `node` devDependency (the
# toolchain for developers) is left out; no package here needs an install script.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# .dockerignore lets through only package*.json, src/, bin/ and scripts/build.ts.
COPY . ./
RUN node scripts/build.ts

# Owned by root and read-only to the runtime user: the code cannot change itself.
RUN groupadd --gid 10001 branch-follower \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /work --shell /usr/sbin/nologin branch-follower

ENV NODE_ENV=production
# Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["node"]
CMD ["/app/dist/cli.js", "--help"]
