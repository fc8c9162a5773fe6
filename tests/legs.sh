#!/bin/bash
# make test's legs, side by side (the Makefile has installed Ansible and started Docker's engine first):
#   - in front: the local stack brought up (make up), the lint, then everything under tests/ on it (pytest);
#   - behind it, on Docker: the compose stack (make compose-test), then the path from nothing, make up in
#     a bare container beside site.yml onto six bare hosts (make fresh-test, make site-test).
# The suite on the local stack spends most of its time waiting on Slurm and its sessions (it keeps about
# a third of the two cores busy), so the containers' legs use what it leaves. They are other pid and
# network namespaces: their hubs, proxies and sessions are not this machine's, and the suite's process
# lookups leave them out (tests/integration/conftest.py: pgrep). Each leg writes its output to
# build/legs/NAME.log (the local one to the terminal too). CI keeps only the end of what a run prints, so
# the end says how each leg went, with the last lines of each that failed. PYTEST_ARGS passes options to
# the suites.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
LOGS=build/legs
T0=$SECONDS
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.rc

leg() {  # leg NAME COMMAND...: the command's output in its log, its exit status and time beside it
    local name=$1 began=$SECONDS
    shift
    "$@" >"$LOGS/$name.log" 2>&1
    echo "$? $((SECONDS - began))" >"$LOGS/$name.rc"
}

docker_legs() {
    leg compose make --no-print-directory compose-test
    leg fresh make --no-print-directory fresh-test &
    leg site make --no-print-directory site-test &
    wait
}
echo "== legs: the Docker legs start behind the local stack and its suite (logs: $LOGS/compose.log, fresh.log, site.log)"
docker_legs &
behind=$!

local_leg() {
    make --no-print-directory up && make --no-print-directory lint &&
        # shellcheck disable=SC2086
        "$PYTHON" -m pytest ${PYTEST_ARGS:-}
}
began=$SECONDS
local_leg 2>&1 | tee "$LOGS/local.log"
echo "${PIPESTATUS[0]} $((SECONDS - began))" >"$LOGS/local.rc"
echo "== legs [$((SECONDS - T0)) s]: the local suite ended; waiting for the Docker legs"
wait "$behind"

failed=()
for name in compose fresh site; do
    echo
    echo "-- $name: its steps ($LOGS/$name.log)"
    grep -a '^== \|^=\+ .* in [0-9.]*s' "$LOGS/$name.log" 2>/dev/null
done
echo
echo "== legs [$((SECONDS - T0)) s]: how each leg went"
for name in local compose fresh site; do
    read -r rc took 2>/dev/null <"$LOGS/$name.rc" || { rc=none; took=0; }
    if [ "$rc" = 0 ]; then
        echo "   $name: passed in $took s"
    else
        echo "   $name: FAILED (exit $rc) after $took s"
        failed+=("$name")
    fi
done
for name in "${failed[@]}"; do
    echo
    echo "-- the end of $name's log ($LOGS/$name.log)"
    if [ "$name" = local ] && grep -q 'short test summary info' "$LOGS/local.log"; then
        sed -n '/short test summary info/,$p' "$LOGS/local.log" | tail -60
    else
        tail -60 "$LOGS/$name.log"
    fi
done
[ ${#failed[@]} = 0 ] || { echo "== legs: failed: ${failed[*]}"; exit 1; }
echo "== legs: every leg passed"
