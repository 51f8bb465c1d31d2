#!/usr/bin/env bash
# scripts/test.sh: the one test command for Rounds, on a fresh clone and in CI.
#
# What it does, stopping at the first failure:
#   1. cargo fmt --all -- --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. makes sure a PostgreSQL server is available for the tests (see below)
#   4. makes sure the test peers are installed: the browser test's (Chromium,
#      playwright-core) and the FHIR client's (sekmet-fhir, oidc-provider,
#      HL7 example packages), each once
#   5. cargo test --workspace [ARGS...]
# Any arguments are passed on to `cargo test`, e.g.
#   scripts/test.sh -- --nocapture
#   scripts/test.sh some_test_name
# The exit status is that of the first failing step (cargo's own status).
#
# PostgreSQL: the tests read ROUNDS_TEST_POSTGRES_URL, the URL of a role that
# may CREATE DATABASE. If it is not set, this script starts a throwaway server
# of its own (installing Debian's `postgresql` package with apt-get if no
# server binaries are found under /usr/lib/postgresql/*/bin), on a free port
# from 55432 upwards, in a temporary directory, and stops and deletes it on
# exit. A cluster the Debian package may have started on 5432 is left alone.
#
# Browser test (crates/rounds/tests/it/browser.rs): needs Debian's
# `chromium` (installed with apt-get, with `chromium-driver`, if missing;
# also `nodejs` and `npm` if there is no node, and `poppler-utils` for
# pdftotext/pdfinfo, which read back the PDFs Chromium prints) and playwright-core from npm
# in ./.peers-node (never a downloaded browser), with axe-core (npm) for the
# accessibility checks. This script exports
# ROUNDS_TEST_CHROMIUM, ROUNDS_TEST_NODE_MODULES and
# ROUNDS_TEST_BROWSER_REQUIRED=1, so the test fails rather than skips when
# something is missing.
# Test peers (rounds-fhir's integration tests), installed on first use and
# reused afterwards; both folders are git-ignored:
#   .venv-peers/   python3 venv with sekmet-fhir, a real FHIR R4 server, and
#                  beside it (PyPI): prometheus_client, the reference metrics
#                  parser; fhir.resources, an independent FHIR validator;
#                  Authlib, fhirpy, requests: the gateway's independent callers
#   .peers-node/   oidc-provider (npm), a real OAuth 2.0 token endpoint, and
#                  HL7's example packages hl7.fhir.r4.examples and
#                  hl7.fhir.r3.examples (only the resource types we read)
# Their places reach the tests as ROUNDS_TEST_SEKMET, ROUNDS_TEST_PEERS_PYTHON
# and ROUNDS_TEST_PEERS_NODE.
# Several-instances test (crates/rounds/tests/it/instances.rs): Debian's
# `nginx` and `openssl` (installed with apt-get if missing); the test starts
# its own nginx with deploy/nginx.conf in a temporary prefix.
#
# Environment variables honoured:
#   ROUNDS_TEST_POSTGRES_URL  use this server instead of starting one, e.g.
#                             postgres://postgres@127.0.0.1:5432/postgres
#   ROUNDS_TEST_SKIP_LINT=1   skip cargo fmt and cargo clippy (fast iteration)
#   ROUNDS_PG_BIN_GLOB        where to look for server binaries
#                             (default: /usr/lib/postgresql/*/bin)
#   ROUNDS_TEST_CHROMIUM      the browser for the browser test
#                             (default: /usr/bin/chromium)
#   ROUNDS_TEST_NGINX         nginx for the several-instances test
#                             (default: /usr/sbin/nginx)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

PG_BIN_GLOB=${ROUNDS_PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}
PG_FIRST_PORT=55432
PG_MAX_TRIES=100

PG_BIN=""   # directory with initdb and pg_ctl
PG_DIR=""   # temporary directory of our throwaway server ("" if none)

# Run a PostgreSQL server tool as the user that owns the cluster: initdb
# refuses to run as root, so as root we use the `postgres` system user.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Print the newest directory matching PG_BIN_GLOB that has initdb and pg_ctl.
find_pg_bin() {
    local dir best=""
    while IFS= read -r dir; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            best=$dir
        fi
    done < <(compgen -G "$PG_BIN_GLOB" | sort -V)
    [[ -n $best ]] && printf '%s\n' "$best"
}

install_pg() {
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "no PostgreSQL server found and not root (and no sudo) to install it; install Debian's 'postgresql' package or set ROUNDS_TEST_POSTGRES_URL"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "no PostgreSQL server found and no apt-get to install one; install PostgreSQL or set ROUNDS_TEST_POSTGRES_URL"
    log "PostgreSQL: installing Debian's postgresql package (apt-get)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

port_is_free() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
finally:
    s.close()
EOF
    else
        [[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]
    fi
}

stop_pg() {
    local status=$?
    if [[ -n $PG_DIR ]]; then
        if [[ -f $PG_DIR/data/postmaster.pid ]]; then
            log "PostgreSQL: stopping throwaway server"
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
            # Should pg_ctl have failed, make sure the postmaster is gone anyway.
            local pid
            pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
            if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -rf -- "$PG_DIR"
        PG_DIR=""
    fi
    exit "$status"
}

start_pg() {
    PG_BIN=$(find_pg_bin) || true
    if [[ -z $PG_BIN ]]; then
        install_pg
        PG_BIN=$(find_pg_bin) \
            || die "installed postgresql but found no initdb/pg_ctl in $PG_BIN_GLOB"
    fi
    log "PostgreSQL: using server binaries in $PG_BIN"

    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        log "PostgreSQL: creating the 'postgres' system user"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    fi

    trap stop_pg EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Short fixed prefix: the Unix socket path must stay under ~100 bytes.
    PG_DIR=$(mktemp -d /tmp/rounds-pg.XXXXXX)
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$PG_DIR"
    fi

    log "PostgreSQL: initdb in $PG_DIR/data"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
            --no-sync -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed"
    fi

    local port=$PG_FIRST_PORT tries=0 logfile=$PG_DIR/server.log
    while :; do
        if ((tries >= PG_MAX_TRIES)); then
            die "no free port found in $PG_FIRST_PORT..$((port - 1))"
        fi
        tries=$((tries + 1))
        if ! port_is_free "$port"; then
            port=$((port + 1))
            continue
        fi
        rm -f -- "$logfile"
        if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$logfile" -w -t 60 -s \
                -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
                start >"$PG_DIR/pg_ctl.out" 2>&1; then
            break
        fi
        # Lost a race for the port with another process: try the next one.
        if grep -q 'Address already in use' "$logfile" 2>/dev/null \
                && ! [[ -f $PG_DIR/data/postmaster.pid ]]; then
            log "PostgreSQL: port $port was taken meanwhile, trying the next one"
            port=$((port + 1))
            continue
        fi
        cat "$PG_DIR/pg_ctl.out" >&2 || true
        printf -- '----- PostgreSQL server log (%s) -----\n' "$logfile" >&2
        cat "$logfile" >&2 2>/dev/null || true
        printf -- '----- end of server log -----\n' >&2
        die "the throwaway PostgreSQL server failed to start"
    done

    export ROUNDS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    log "PostgreSQL: throwaway server running at $ROUNDS_TEST_POSTGRES_URL"
}

check_given_pg() {
    log "PostgreSQL: using ROUNDS_TEST_POSTGRES_URL from the environment"
    local isready
    isready=$(command -v pg_isready 2>/dev/null) \
        || isready=$(compgen -G "$PG_BIN_GLOB/pg_isready" | sort -V | tail -n 1) \
        || true
    if [[ -n $isready ]]; then
        "$isready" -q -t 10 -d "$ROUNDS_TEST_POSTGRES_URL" \
            || die "PostgreSQL at ROUNDS_TEST_POSTGRES_URL is not reachable (pg_isready failed)"
    else
        log "PostgreSQL: pg_isready not found, trusting ROUNDS_TEST_POSTGRES_URL as is"
    fi
}

# Installs Debian packages (as root, or with sudo); runs apt-get update
# only when the first attempt fails (e.g. empty package lists).
apt_install() {
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "need Debian packages $* but not root (and no sudo): install them"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "need Debian packages $* and there is no apt-get: install them"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

ensure_browser() {
    local chromium=${ROUNDS_TEST_CHROMIUM:-/usr/bin/chromium}
    local missing=()
    [[ -x $chromium ]] || missing+=(chromium chromium-driver)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    # pdftotext and pdfinfo read back the PDFs Chromium prints (the print sheet).
    command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
    if ((${#missing[@]})); then
        log "browser test: installing ${missing[*]} (apt-get)"
        apt_install "${missing[@]}"
    fi
    [[ -x $chromium ]] || die "no browser at $chromium after installing chromium"
    local node_major
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    if ((node_major < 20)); then
        die "Node.js 20 or later is needed by the test peers (playwright-core, oidc-provider); found $(node --version). Debian 12's own nodejs package is 18: install Node.js 20 (for example from NodeSource) and run again"
    fi
    local prefix=$PWD/.peers-node
    if [[ ! -f $prefix/node_modules/playwright-core/package.json ]]; then
        log "browser test: installing playwright-core into $prefix (npm; no browser download)"
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent \
            --prefix "$prefix" playwright-core@1 >/dev/null
    fi
    # axe-core: the accessibility rules the browser tests run in each page state.
    if [[ ! -f $prefix/node_modules/axe-core/axe.min.js ]]; then
        log "browser test: installing axe-core into $prefix (npm)"
        npm install --no-audit --no-fund --silent --prefix "$prefix" axe-core@4 >/dev/null
    fi
    export ROUNDS_TEST_CHROMIUM=$chromium
    export ROUNDS_TEST_NODE_MODULES=$prefix/node_modules
    export ROUNDS_TEST_BROWSER_REQUIRED=1
    log "browser test: $chromium, playwright-core in $ROUNDS_TEST_NODE_MODULES"
}

PEERS_VENV=.venv-peers
PEERS_NODE=.peers-node
SEKMET_PKG="sekmet-fhir==0.1.1"
# Beside sekmet in the same venv: the reference parser of Prometheus' text
# format (the /metrics test), an independent FHIR validator (the audit log as
# AuditEvents; sekmet brings it too), and the gateway's independent callers
# (Authlib for the client credentials flow, fhirpy for reading and paging).
PY_PEER_PKGS=("prometheus_client>=0.20,<1" "fhir.resources>=7.1,<9" "openpyxl==3.1.5" "authlib==1.9.10" "fhirpy==2.3.1" "requests==2.34.2")
PY_PEER_CHECK='import prometheus_client, fhir.resources.R4B.auditevent, openpyxl, authlib, fhirpy, requests'
OIDC_PKG="oidc-provider@9"
HL7_PKGS=(hl7.fhir.r4.examples@4.0.1 hl7.fhir.r3.examples@3.0.2)
# The example resources the tests serve (a BOM-prefixed STU3 file among them).
HL7_FILES=('package/Patient-*' 'package/Observation-*' 'package/Condition-*'
    'package/Encounter-*' 'package/AllergyIntolerance-*' 'package/MedicationRequest-*'
    'package/MedicationStatement-*' 'package/Coverage-*' 'package/NamingSystem-4.3.1.json')

install_python_peers() {
    if [[ ! -x $PEERS_VENV/bin/sekmet ]]; then
        log "peers: installing $SEKMET_PKG into $PEERS_VENV (pip)"
        if ! python3 -m venv "$PEERS_VENV" 2>/dev/null; then
            # Debian's python3 without ensurepip: python3-venv brings it.
            rm -rf -- "$PEERS_VENV"
            command -v apt-get >/dev/null 2>&1 || die "python3 -m venv failed and no apt-get to install python3-venv"
            log "peers: python3 -m venv failed; installing python3-venv (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
            python3 -m venv "$PEERS_VENV"
        fi
        "$PEERS_VENV/bin/pip" install --quiet --disable-pip-version-check "$SEKMET_PKG" \
            || { rm -rf -- "$PEERS_VENV"; die "pip install $SEKMET_PKG failed"; }
    fi
    if ! "$PEERS_VENV/bin/python3" -c "$PY_PEER_CHECK" 2>/dev/null; then
        log "peers: installing ${PY_PEER_PKGS[*]} into $PEERS_VENV (pip)"
        "$PEERS_VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PEER_PKGS[@]}" \
            || die "pip install ${PY_PEER_PKGS[*]} failed"
    fi
}

install_node_peers() {
    command -v npm >/dev/null 2>&1 || die "npm not found: Node.js 20 is needed for the FHIR client's test peers"
    if [[ ! -f $PEERS_NODE/node_modules/oidc-provider/package.json ]]; then
        log "peers: installing $OIDC_PKG into $PEERS_NODE (npm)"
        mkdir -p "$PEERS_NODE"
        npm install --prefix "$PEERS_NODE" --no-audit --no-fund --silent "$OIDC_PKG" >/dev/null \
            || die "npm install $OIDC_PKG failed"
    fi
    local pkg dir tgz
    for pkg in "${HL7_PKGS[@]}"; do
        dir=$PEERS_NODE/examples/${pkg%@*}
        [[ -f $dir/.complete ]] && continue
        log "peers: fetching $pkg (npm pack)"
        rm -rf -- "$dir"
        mkdir -p "$dir"
        tgz=$(cd "$dir" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1) \
            || die "npm pack $pkg failed"
        tar -xzf "$dir/$tgz" -C "$dir" --wildcards "${HL7_FILES[@]}" 2>/dev/null \
            || tar -xzf "$dir/$tgz" -C "$dir" --wildcards "${HL7_FILES[@]:0:8}" \
            || die "cannot unpack $tgz"
        rm -f -- "$dir/$tgz"
        touch "$dir/.complete"
    done
}

provision_peers() {
    install_python_peers
    install_node_peers
    export ROUNDS_TEST_SEKMET=$PWD/$PEERS_VENV/bin/sekmet
    export ROUNDS_TEST_PEERS_PYTHON=$PWD/$PEERS_VENV/bin/python3
    export ROUNDS_TEST_PEERS_NODE=$PWD/$PEERS_NODE
}

if [[ ${ROUNDS_TEST_SKIP_LINT:-0} == 1 ]]; then
    log "skipping cargo fmt and cargo clippy (ROUNDS_TEST_SKIP_LINT=1)"
else
    log "cargo fmt --all -- --check"
    cargo fmt --all -- --check
    log "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings
fi

if [[ -n ${ROUNDS_TEST_POSTGRES_URL:-} ]]; then
    check_given_pg
else
    start_pg
fi

ensure_browser
provision_peers
# The several-instances test runs a real nginx in front (deploy/nginx.conf)
# with a test certificate made by openssl.
if [[ ! -x ${ROUNDS_TEST_NGINX:-/usr/sbin/nginx} ]] || ! command -v openssl >/dev/null 2>&1; then
    log "instances test: installing nginx and openssl (apt-get)"
    apt_install nginx openssl
fi
# The service recipe's test runs systemd's own unit checker.
if ! command -v systemd-analyze >/dev/null 2>&1; then
    log "deploy test: installing systemd (apt-get) for systemd-analyze"
    apt_install systemd
fi

log "cargo test --workspace${*:+ $*}"
cargo test --workspace "$@"
log "all checks passed"
