#!/bin/bash
# make compose-test: the stack of docker-compose.yml built, started and tested for real, then
# taken down with its volumes. Runs as root on a machine of the local stack's kind:
#   1. starts Debian's Docker engine when none answers;
#   2. makes the debian:bookworm base image with debootstrap when it cannot be pulled;
#   3. builds and brings the stack up under its own project name and port;
#   4. runs the stack's self-check (jupyterhub_slurm_interactive.ops.stack_check), then tests/compose, the browser walk and the neighbour test against it
#      (screenshots in test-artifacts/compose);
#   5. takes it down with its volumes.
# COMPOSE_PROJECT, COMPOSE_HUB_PORT, COMPOSE_HUB_HTTP_PORT and COMPOSE_IDP_PORT choose the project, the hub's https
# and http ports and the identity provider's (default jsi-compose-test, 8010, 8011 and 8012), so that it runs beside the local stack. COMPOSE_KEEP=1 leaves the
# stack up when a test fails, to read its logs and shells; take it down with
# `docker compose -p jsi-compose-test down -v`.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${COMPOSE_PROJECT:-jsi-compose-test}
PORT=${COMPOSE_HUB_PORT:-8010}
HTTP_PORT=${COMPOSE_HUB_HTTP_PORT:-$((PORT + 1))}
IDP_PORT=${COMPOSE_IDP_PORT:-$((PORT + 2))}
PYTHON=${PYTHON:-.venv/bin/python}
T0=$SECONDS

say() { echo "== compose-test [$((SECONDS - T0)) s]: $*"; }
STEP="starting"
step() { STEP=$*; say "$*"; }

# shellcheck source=docker/engine.sh
. docker/engine.sh
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
C=("${COMPOSE[@]}" -p "$PROJECT")
# The hub's first start fills the releases' volume from its image (every release's environments). docker-compose 1.29 waits 60 s
# for the engine to answer a create, and a machine busy with the other legs takes longer than that to copy
# them, so the create timed out while the engine went on making the container.
export COMPOSE_HTTP_TIMEOUT=${COMPOSE_HTTP_TIMEOUT:-900}

mkdir -p build
rm -f build/compose-test-check.log build/compose-test-pytest.log
step "building the images"
"${C[@]}" build -q
say "built"

# On a failure the last lines say what failed: CI keeps only the end of what a run prints. The services'
# logs go to a file, and only the hub's end is printed before the failed step and the failed tests.
cleanup() {
    status=$?
    if [ "$status" -ne 0 ]; then
        "${C[@]}" ps || true
        "${C[@]}" logs --no-color --tail=300 >build/compose-test-services.log 2>&1 || true
        echo "-- the hub's last lines (every service's: build/compose-test-services.log)"
        "${C[@]}" logs --no-color --tail=25 hub 2>&1 || true
        echo "-- compose-test failed (exit $status) in: $STEP"
        [ "$STEP" != "the stack's self-check, in the hub container" ] || tail -15 build/compose-test-check.log 2>/dev/null || true
        sed -n '/short test summary info/,$p' build/compose-test-pytest.log 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ "${COMPOSE_KEEP:-}" = 1 ]; then
        say "left up (COMPOSE_KEEP=1): ${C[*]} down -v --remove-orphans"
        exit "$status"
    fi
    say "taking the stack down with its volumes"
    "${C[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    exit "$status"
}
trap cleanup EXIT

step "starting the stack on port $PORT (https; http on $HTTP_PORT is redirected)"
export HUB_PORT=$PORT HUB_HTTP_PORT=$HTTP_PORT IDP_PORT=$IDP_PORT
"${C[@]}" up -d
services=$("${C[@]}" config --services)
deadline=$((SECONDS + 600))
step "waiting for every service to be healthy"
until [ "$(for s in $services; do docker inspect -f '{{.State.Health.Status}}' "$("${C[@]}" ps -q "$s")" 2>/dev/null; done | grep -c '^healthy$')" = "$(echo "$services" | wc -w)" ]; do
    if ((SECONDS > deadline)); then
        for s in $services; do echo "$s: $(docker inspect -f '{{.State.Health.Status}}' "$("${C[@]}" ps -q "$s")" 2>&1)"; done
        echo "the stack did not become healthy" >&2; exit 1
    fi
    sleep 2
done
say "every service is healthy"
"${C[@]}" ps

# The deployment's own self-check, on images built from nothing in this run: munge, the controller,
# accounting, every node, the hub's view of other users' jobs, one real session through the proxy.
step "the stack's self-check, in the hub container"
"${C[@]}" exec -T hub /opt/jupyterhub/venv/bin/python -m jupyterhub_slurm_interactive.ops.stack_check \
    --hub-url https://127.0.0.1:8000 --ca-file /etc/jupyterhub/tls/ca.pem --token-file /var/lib/jupyterhub/admin-api-token \
    --user alice 2>&1 | tee build/compose-test-check.log

"${C[@]}" exec -T hub cat /var/lib/jupyterhub/admin-api-token > build/compose-admin-token
chmod 600 build/compose-admin-token
# the tests trust the stack's demo CA, as a site's people trust its CA: nothing goes unverified
"${C[@]}" exec -T hub cat /etc/jupyterhub/tls/ca.pem > build/compose-ca.pem

step "the compose suite, the browser walk and the neighbour test"
HUB_URL=https://127.0.0.1:$PORT HUB_CA_FILE=build/compose-ca.pem HUB_HTTP_URL=http://127.0.0.1:$HTTP_PORT \
HUB_LOGIN=oidc IDP_URL=https://127.0.0.1:$IDP_PORT TEST_ARTIFACTS=test-artifacts/compose \
HUB_ADMIN_TOKEN_FILE=build/compose-admin-token \
SLURM_VIA="${C[*]} exec -T" COMPOSE="${C[*]}" \
    "$PYTHON" -m pytest tests/compose "tests/browser/test_walk.py::test_log_in_start_come_back_and_stop" \
    "tests/integration/test_neighbour.py::test_a_neighbour_on_the_node_gets_nothing_of_a_session" -rfE ${PYTEST_ARGS:-} \
    2>&1 | tee build/compose-test-pytest.log
say "done"
