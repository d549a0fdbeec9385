#!/usr/bin/env bash
# Builds the controller image from the project's Dockerfile with buildah (no daemon) and imports
# it into the realk8s node. The base cannot be pulled here, so it is built locally first:
# realk8s's local/node-git:24 (Debian + git + Node 24) plus npm, which node:24-slim also has.
#
#   test/cluster/build-image.sh [IMAGE]      default docker.io/local/branch-follower:ci
#
# Needs root, buildah (Debian's, 1.28), npm on the host (to fetch npm itself), realk8s built with
# --with-node-image and, for the import, the node up. Storage: $BF_CI_CACHE (vfs driver).
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${1:-docker.io/local/branch-follower:ci}
BASE=docker.io/local/branch-follower-base:24
NPM_VERSION=${NPM_VERSION:-11}
REALK8S_DIR=${REALK8S_DIR:-/work/shared/realk8s}
REALK8S_HOME=${REALK8S_HOME:-/var/cache/realk8s}
CACHE=${BF_CI_CACHE:-/var/cache/branch-follower-ci}
mkdir -p "$CACHE"
B=(buildah --storage-driver vfs --root "$CACHE/storage" --runroot "$CACHE/run")
t0=$SECONDS
log() { echo "[image +$((SECONDS - t0))s] $*"; }

if ! "${B[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  log "base $BASE: $REALK8S_HOME/images/node-git.tar + npm@$NPM_VERSION"
  "${B[@]}" pull --quiet "oci-archive:$REALK8S_HOME/images/node-git.tar" >/dev/null
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1)
  ctr=$("${B[@]}" from docker.io/local/node-git:24)
  "${B[@]}" copy "$ctr" "$work/npm" /usr/local/lib/node_modules/npm >/dev/null
  "${B[@]}" run --isolation chroot "$ctr" -- sh -c \
    'ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && npm --version'
  "${B[@]}" commit --quiet "$ctr" "$BASE" >/dev/null
  "${B[@]}" rm "$ctr" >/dev/null
  rm -rf "$work"
fi

# Behind a TLS-intercepting proxy the host trusts an extra CA; the build's npm gets it as a
# read-only mount for the RUN steps (not part of any layer).
ca=()
host_ca=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}
if [ -n "$host_ca" ] && [ -s "$host_ca" ]; then
  ca=(--volume "$host_ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi
log "build $IMAGE from Dockerfile (BASE=$BASE)"
"${B[@]}" bud --quiet --isolation chroot --pull-never --layers --build-arg "BASE=$BASE" "${ca[@]}" -t "$IMAGE" -f Dockerfile . >/dev/null
archive="$CACHE/branch-follower.tar"
rm -f "$archive"
"${B[@]}" push --quiet "$IMAGE" "oci-archive:$archive:$IMAGE"
log "import $(du -h "$archive" | cut -f1) into the node"
bash "$REALK8S_DIR/image.sh" import "$archive"
rm -f "$archive"
log "done: $IMAGE"
