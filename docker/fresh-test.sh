#!/bin/bash
# make fresh-test: the README's first command on a machine that has never seen the project, the
# way a newcomer meets it. A bare Debian 12 container (debootstrap's minbase, unprivileged) gets
# make, git and this checkout, then `make up` runs in it twice:
#   1. from nothing: packages, users, Slurm with accounting, the hub, the releases, and the
#      stack's self-check, which starts, reaches and stops one real session of alice;
#   2. again: the play must change nothing, and the self-check passes again.
# Containers share the host's kernel and cgroups: no cgroup confinement and no per-job /tmp
# mounts there (docs/faults.md), the same as the compose stack. Logs: build/fresh-test-*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${FRESH_CONTAINER:-jsi-fresh-test}
UP_ARGS='ANSIBLE_ARGS=-e slurm_cgroups=false -e slurm_job_tmpfs=false'
T0=$SECONDS

say() { echo "== fresh-test [$((SECONDS - T0)) s]: $*"; }

# shellcheck source=docker/engine.sh
. docker/engine.sh

cleanup() {
    status=$?
    say "removing the container"
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    exit "$status"
}
docker rm -f "$NAME" >/dev/null 2>&1 || true
trap cleanup EXIT

say "a bare Debian 12"
docker run -d --name "$NAME" --hostname fresh \
    -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt -e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    debian:bookworm sleep infinity >/dev/null
git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -c 2>/dev/null |
    docker exec -i "$NAME" sh -c 'mkdir /src && tar -x -C /src'
docker cp docker/ca-certificates/. "$NAME":/usr/local/share/ca-certificates/
docker exec -e DEBIAN_FRONTEND=noninteractive "$NAME" sh -c \
    'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends make git ca-certificates >/dev/null && update-ca-certificates >/dev/null'

mkdir -p build
up() {
    local log=build/fresh-test-$1.log
    say "make up, $1 run (log: $log)"
    if ! docker exec -w /src "$NAME" make up "$UP_ARGS" >"$log" 2>&1; then
        grep -B3 -A12 'fatal:\|FAILED!' "$log" | head -60 || tail -40 "$log"
        echo "make up failed on its $1 run on a bare Debian 12" >&2
        exit 1
    fi
    grep -A1 '^PLAY RECAP' "$log" | tail -1
    grep '^check-stack: ' "$log"
}

up first
up second
recap=$(grep -A1 '^PLAY RECAP' build/fresh-test-second.log | tail -1)
if ! grep -q ' changed=0 ' <<<"$recap"; then
    grep -B1 '^changed:' build/fresh-test-second.log | grep '^TASK' || true
    echo "the second make up changed something: $recap" >&2
    exit 1
fi
say "done"
