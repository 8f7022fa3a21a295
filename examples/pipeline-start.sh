#!/bin/sh
# What a CI/CD pipeline runs to roll a catalog service to a new version through the HTTP API,
# with a scoped token (examples/api/credentials.yaml: `ci-checkout` may read, start, pause,
# resume and abort `checkout`, nothing else) or a signing key (HMAC over method, path, time,
# nonce and body; a captured request cannot be replayed).
#
#   PHOENIX_API=http://127.0.0.1:8088 PHOENIX_TOKEN=... examples/pipeline-start.sh checkout v2
#   PHOENIX_API=... PHOENIX_KEY_ID=deploy-bot PHOENIX_KEY=... examples/pipeline-start.sh checkout v2
#
# The request names the service and the version only: routers, platforms, commands and URLs
# are the catalog's (docs/catalog.md). The build id as Idempotency-Key makes a retried job
# start one rollout.
set -eu
SERVICE=${1:?usage: pipeline-start.sh SERVICE VERSION}
VERSION=${2:?usage: pipeline-start.sh SERVICE VERSION}
API=${PHOENIX_API:-http://127.0.0.1:8088}
BODY=$(printf '{"service":"%s","canary":"%s"}' "$SERVICE" "$VERSION")
KEY_HEADER="Idempotency-Key: ${CI_PIPELINE_ID:-$SERVICE-$VERSION}"

if [ -n "${PHOENIX_KEY:-}" ]; then
  TS=$(date +%s)
  NONCE=$(openssl rand -hex 16)
  BODYHASH=$(printf %s "$BODY" | sha256sum | cut -d' ' -f1)
  SIG=$(printf 'POST\n/v1/rollouts\n%s\n%s\n%s' "$TS" "$NONCE" "$BODYHASH" | openssl dgst -sha256 -hmac "$PHOENIX_KEY" | sed 's/.* //')
  curl -sS --fail-with-body -X POST "$API/v1/rollouts" -H 'content-type: application/json' -H "$KEY_HEADER" \
    -H "X-Phoenix-Key-Id: ${PHOENIX_KEY_ID:?set PHOENIX_KEY_ID}" -H "X-Phoenix-Timestamp: $TS" \
    -H "X-Phoenix-Nonce: $NONCE" -H "X-Phoenix-Signature: sha256=$SIG" -d "$BODY"
else
  curl -sS --fail-with-body -X POST "$API/v1/rollouts" -H 'content-type: application/json' -H "$KEY_HEADER" \
    -H "Authorization: Bearer ${PHOENIX_TOKEN:?set PHOENIX_TOKEN or PHOENIX_KEY}" -d "$BODY"
fi
echo
