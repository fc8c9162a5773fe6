# Sourced by docker/compose-test.sh, docker/fresh-test.sh and docker/site-test.sh, as root on a machine of the local
# stack's kind: Debian's Docker engine installed and started when none answers, and the
# debian:bookworm base image made with debootstrap when no registry has it. Run alone by
# `make docker-engine`, before the tests that share the engine start together.
ENGINE_LOG=/var/log/docker-engine.log
type say >/dev/null 2>&1 || say() { echo "== docker engine: $*"; }

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null ||
   ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; }; then
    say "installing Debian's Docker engine, docker-compose and debootstrap"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        docker.io docker-compose debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    say "starting the Docker engine (log: $ENGINE_LOG)"
    setsid nohup dockerd --storage-driver=overlay2 >"$ENGINE_LOG" 2>&1 < /dev/null &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$ENGINE_LOG"; echo "the Docker engine did not start" >&2; exit 1; }
fi

if ! docker image inspect debian:bookworm >/dev/null 2>&1 && ! docker pull -q debian:bookworm >/dev/null 2>&1; then
    say "no registry: making debian:bookworm with debootstrap"
    root=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$root" >/dev/null
    tar -C "$root" -c . | docker import - debian:bookworm >/dev/null
    rm -rf "$root"
fi

# Certificate authorities this machine trusts beyond Debian's (a TLS-inspecting proxy on the
# way to the package registries), for what is built or installed inside a container.
find docker/ca-certificates -name '*.crt' -delete
cp /usr/local/share/ca-certificates/*.crt docker/ca-certificates/ 2>/dev/null || true
