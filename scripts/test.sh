#!/usr/bin/env bash
# The project's one test command (README and .ci/run call exactly `./scripts/test.sh`).
#
# Works on a fresh Debian machine with only the Rust toolchain and python3: installs what is
# missing (as root, through apt), creates the Python venv the end-to-end tests need, checks
# formatting and lints, builds the debug `sextant` binary and runs every test against it.
#
# External services that later tests need (Postgres, an S3 server, NATS, Chromium) get a
# `start_<name>` function below: each starts its server on a random loopback port in a
# temporary directory, registers its stop command with `on_exit`, and exports the address for
# the tests. The exit trap stops everything this script started, in reverse order.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
STARTED_AT="$(date +%s)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: commands registered with `on_exit` run in reverse order when the script ends.
CLEANUP=()
TMP_ROOT=""
on_exit() { CLEANUP+=("$1"); }
cleanup() {
    local rc=$?
    local i
    for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUP[$i]}" || true
    done
    if [[ -n "$TMP_ROOT" && -d "$TMP_ROOT" ]]; then
        rm -rf "$TMP_ROOT"
    fi
    log "finished with status $rc after $(($(date +%s) - STARTED_AT)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A temporary directory for services started by this script (removed on exit). The root is
# made here, in the main shell: `dir="$(tmp_dir x)"` runs tmp_dir in a subshell, which could not
# hand a lazily created root back to `cleanup`.
TMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/sextant-test.XXXXXX")"
tmp_dir() {
    mktemp -d "$TMP_ROOT/$1.XXXXXX"
}

# A free TCP port on 127.0.0.1 (for servers that cannot bind port 0 and report it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Start a background process, remember its PID, stop it on exit. Usage: start_bg NAME CMD...
start_bg() {
    local name="$1"
    shift
    "$@" &
    local pid=$!
    on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
    log "started $name (pid $pid)"
}

# Wait until a command succeeds, up to a deadline in seconds. Usage: wait_for SECS CMD...
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        (($(date +%s) < deadline)) || return 1
        sleep 0.2
    done
}

# Shape of a service starter (later issues add Postgres, Prometheus, moto, NATS, Chromium):
#   start_nats() {
#       command -v nats-server >/dev/null || apt_install nats-server
#       local dir port; dir="$(tmp_dir nats)"; port="$(free_port)"
#       start_bg nats nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir"
#       wait_for 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || die "nats did not start"
#       export SEXTANT_TEST_NATS_URL="nats://127.0.0.1:$port"
#   }
# and a call in main() before run_tests.

# ---------------------------------------------------------------------------------------------
# System packages: install with apt when root and something is missing.
APT_UPDATED=0
apt_install() {
    if [[ "$(id -u)" != 0 ]]; then
        die "missing system packages: $* (run as root or install them)"
    fi
    command -v apt-get >/dev/null || die "missing system packages: $* (no apt-get here)"
    if [[ "$APT_UPDATED" == 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

ensure_tools() {
    command -v cargo >/dev/null || die "cargo is not installed"
    command -v python3 >/dev/null || apt_install python3
    # Debian's python3 lacks ensurepip unless python3-venv is installed.
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        local minor
        minor="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python3-venv" "python${minor}-venv" || apt_install python3-venv
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null && rustup component add rustfmt clippy
    fi
}

# ---------------------------------------------------------------------------------------------
# Prometheus: the generator tests (tests/tests/generator.rs) start their own servers on free
# loopback ports, each with its own TSDB in a temporary directory; this only makes sure the
# binary is there. The Debian package may also start a system service: unused, never touched.
ensure_prometheus() {
    command -v prometheus >/dev/null || apt_install prometheus
    SEXTANT_TEST_PROMETHEUS="$(command -v prometheus)" \
        || die "prometheus installed but not on PATH"
    export SEXTANT_TEST_PROMETHEUS
    log "prometheus: $SEXTANT_TEST_PROMETHEUS ($("$SEXTANT_TEST_PROMETHEUS" --version 2>&1 | head -n 1))"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster of our own on a free loopback port (never the machine's own
# server on 5432), data and socket in a temporary directory, stopped and removed on exit.

# The bin directory of the newest installed PostgreSQL (15 preferred), or nothing.
pg_bin_dir() {
    local dir
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

# Run a command as the cluster's owner: `postgres` when we are root (initdb refuses root),
# ourselves otherwise.
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local bin
    bin="$(pg_bin_dir)"
    if [[ -z "$bin" ]]; then
        [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin); install the postgresql package"
        apt_install postgresql
        bin="$(pg_bin_dir)"
        [[ -n "$bin" ]] || die "postgresql installed but initdb not found"
    fi
    local dir port password
    dir="$(tmp_dir postgres)"
    port="$(free_port)"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no postgres user to run PostgreSQL as (initdb refuses root)"
        # mktemp makes 0700 root directories: let postgres traverse the root and own its own.
        chmod 711 "$TMP_ROOT"
        chown postgres:postgres "$dir"
    fi
    printf '%s\n' "$password" >"$dir/pwfile"
    if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$dir/pwfile"; fi
    chmod 600 "$dir/pwfile"
    log "initdb ($bin) in $dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"
    # Registered before the start so a half-started server is stopped too.
    on_exit "as_pg '$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null 2>&1"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$dir/server.log" >&2; die "postgres did not start"; }
    log "started postgres on 127.0.0.1:$port"
    export SEXTANT_TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
}

# ---------------------------------------------------------------------------------------------
# Python venv for the real OpenTelemetry clients; pip runs only when requirements change.
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tests/python/requirements.txt"
ensure_venv() {
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$( (cat "$REQUIREMENTS"; python3 --version) | sha256sum | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$VENV/bin/python" -c 'import opentelemetry.sdk, moto' >/dev/null 2>&1; then
        log "python venv up to date ($VENV)"
        return
    fi
    log "creating python venv at $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    printf '*\n' >"$VENV/.gitignore"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------------------------------------
# Rust checks, build and tests.
target_dir() {
    cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

rust_checks() {
    log "cargo fmt --check"
    cargo fmt --all -- --check
    log "cargo clippy"
    cargo clippy --workspace --all-targets -- -D warnings
}

build_binary() {
    log "cargo build -p sextant"
    cargo build -p sextant
    SEXTANT_BIN="$(target_dir)/debug/sextant"
    [[ -x "$SEXTANT_BIN" ]] || die "built binary not found at $SEXTANT_BIN"
    export SEXTANT_BIN
    export SEXTANT_TEST_PYTHON="$VENV/bin/python"
    # The object-store tests start their own moto_server (S3 API) on a free loopback port.
    export SEXTANT_TEST_MOTO="$VENV/bin/moto_server"
    [[ -x "$SEXTANT_TEST_MOTO" ]] || die "moto_server missing from $VENV (tests/python/requirements.txt)"
}

run_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        log "cargo nextest run --workspace"
        cargo nextest run --workspace --no-fail-fast
    else
        log "cargo test --workspace (cargo-nextest not installed)"
        cargo test --workspace --no-fail-fast
    fi
}

main() {
    ensure_tools
    ensure_venv
    ensure_prometheus
    rust_checks
    build_binary
    start_postgres
    run_tests
}

main "$@"
