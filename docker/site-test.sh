#!/bin/bash
# make site-test: ansible/site.yml, the playbook a site runs, deployed onto six separate bare hosts
# (docker/site-host.Dockerfile: Debian 12 with systemd and an ssh server) over ssh, as a site's
# machines are reached:
#   1. the hosts of ansible/inventory/site-test.yml started bare on their own network, /home and the
#      releases shared between the hub and the nodes (a site's network filesystems);
#   2. what a site keeps in its vault made here: the database passwords, and a CA with the hub's
#      https certificate (build/site-test, mode 0700);
#   3. site.yml from nothing, timed; then again, which must change nothing;
#   4. plain http redirected to https, and the stack's self-check on the hub through https: munge,
#      the controller, accounting, the nodes, then one real session of alice started, reached
#      through the proxy and stopped.
# SITE_KEEP=1 leaves the hosts up when something fails (ssh -i build/site-test/id_ed25519 root@ADDR).
# Logs: build/site-test-*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

NET=jsi-site
SUBNET=172.29.77
HOSTS=(slurmctl:2 slurmdb:3 frontend:10 hubdb:20 gpu01:31 gpu02:32)
DIR=build/site-test
T0=$SECONDS

say() { echo "== site-test [$((SECONDS - T0)) s]: $*"; }

# shellcheck source=docker/engine.sh
. docker/engine.sh

remove() {
    for h in "${HOSTS[@]}"; do docker rm -f "$NET-${h%%:*}" >/dev/null 2>&1 || true; done
    docker volume rm "$NET-home" "$NET-releases" >/dev/null 2>&1 || true
    docker network rm "$NET" >/dev/null 2>&1 || true
}
cleanup() {
    status=$?
    if [ "$status" -ne 0 ] && [ "${SITE_KEEP:-}" = 1 ]; then
        say "left up (SITE_KEEP=1): ssh -i $DIR/id_ed25519 root@$SUBNET.10"
        exit "$status"
    fi
    say "removing the hosts"
    remove
    exit "$status"
}
remove
trap cleanup EXIT

mkdir -p build
say "the bare hosts' image"
if ! docker build -q -f docker/site-host.Dockerfile -t jsi-site-host . >build/site-test-image.log 2>&1; then
    tail -30 build/site-test-image.log; echo "the bare hosts' image did not build" >&2; exit 1
fi

# What a site keeps in its vault, made for this run only.
rm -rf "$DIR"
mkdir -p "$DIR"
chmod 0700 "$DIR"
ssh-keygen -q -t ed25519 -N '' -C site-test -f "$DIR/id_ed25519"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=site-test CA" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=frontend" -keyout "$DIR/hub.key" -out "$DIR/hub.csr" 2>/dev/null
openssl x509 -req -in "$DIR/hub.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=DNS:frontend,IP:%s.10\nextendedKeyUsage=serverAuth\n' "$SUBNET") \
    -out "$DIR/hub.pem" 2>/dev/null
secret() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
here=$(pwd)
cat >"$DIR/secrets.yml" <<SECRETS
slurmdbd_db_password: '$(secret)'
hub_db_password: '$(secret)'
hub_tls_cert_src: '$here/$DIR/hub.pem'
hub_tls_key_src: '$here/$DIR/hub.key'
hub_tls_ca_src: '$here/$DIR/ca.pem'
SECRETS

say "six bare hosts on $SUBNET.0/24"
docker network create --subnet "$SUBNET.0/24" "$NET" >/dev/null
for h in "${HOSTS[@]}"; do
    name=${h%%:*}
    shared=()
    case $name in
        frontend) shared=(-v "$NET-home:/home" -v "$NET-releases:/opt/releases") ;;
        gpu*) shared=(-v "$NET-home:/home" -v "$NET-releases:/opt/releases:ro") ;;
    esac
    docker run -d --name "$NET-$name" --hostname "$name" --network "$NET" --ip "$SUBNET.${h##*:}" \
        --network-alias "$name" --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        --tmpfs /run --tmpfs /run/lock "${shared[@]}" jsi-site-host >/dev/null
    docker exec -i "$NET-$name" sh -c 'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' <"$DIR/id_ed25519.pub"
done
for h in "${HOSTS[@]}"; do
    addr=$SUBNET.${h##*:}
    for _ in $(seq 120); do
        ssh-keyscan -T 2 -t ed25519 "$addr" 2>/dev/null >>"$DIR/known_hosts" && break
        sleep 0.5
    done
    grep -q "^$addr " "$DIR/known_hosts" || { echo "the host ${h%%:*} ($addr) never answered on ssh" >&2; exit 1; }
done
say "every host answers on ssh"

export ANSIBLE_CONFIG=ansible/ansible.cfg ANSIBLE_FORKS=6 ANSIBLE_PRIVATE_KEY_FILE=$here/$DIR/id_ed25519 \
    ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=$here/$DIR/known_hosts -o ControlMaster=auto -o ControlPersist=120s"
play() {
    local log=build/site-test-$1.log began=$SECONDS
    say "site.yml, $1 run (log: $log)"
    if ! (cd ansible && ansible-playbook -i inventory/site-test.yml site.yml -e "@$here/$DIR/secrets.yml") >"$log" 2>&1; then
        grep -B3 -A12 'fatal:\|FAILED!\|UNREACHABLE!' "$log" | head -80 || tail -40 "$log"
        echo "site.yml failed on its $1 run" >&2
        exit 1
    fi
    sed -n '/^PLAY RECAP/,/^$/p' "$log"
    say "$1 run took $((SECONDS - began)) s"
}
play first
play second
if sed -n '/^PLAY RECAP/,/^$/p' build/site-test-second.log | grep ' changed=' | grep -v ' changed=0 '; then
    grep -B1 '^changed:' build/site-test-second.log | grep '^TASK' || true
    echo "the second run of site.yml changed something" >&2
    exit 1
fi

say "plain http is sent to https"
where=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://$SUBNET.10/hub/login")
[[ $where == "301 https://"*"/hub/login" || $where == "302 https://"*"/hub/login" ]] || { echo "http://…/hub/login answered $where" >&2; exit 1; }
curl -sSf --cacert "$DIR/ca.pem" -o /dev/null "https://$SUBNET.10/hub/login"

say "the self-check through https, on the hub"
check=$(docker exec "$NET-frontend" /opt/jupyterhub/venv/bin/python -m jupyterhub_slurm_interactive.ops.stack_check \
    --hub-url https://frontend --ca-file /etc/jupyterhub/tls/ca.pem --token-file /etc/jupyterhub/admin-api-token --user alice) \
    || { echo "$check"; exit 1; }
echo "$check"
job=$(sed -n "s/.*alice's job \([0-9]*\) ready.*/\1/p" <<<"$check")
ran=$(docker exec "$NET-slurmctl" scontrol --oneliner show job "$job" | grep -oE '(^| )(UserId|NodeList)=[^ ]*' | tr -d '\n')
say "alice's job $job: $ran"
[[ $ran == *"UserId=alice(2001)"*"NodeList=gpu0"[12]* ]] || { echo "alice's session did not run on a node as alice" >&2; exit 1; }
say "done"
