#!/usr/bin/env bash
# Benchmark: summaries (all sections) of 50 and 200 patients from one
# sekmet-fhir server, in one run: rounds-fhir's batch and concurrent paths,
# a naive client (fhirpy, one request at a time), and the bare minimal
# requests. Not part of scripts/test.sh (it takes minutes).
#
#   crates/rounds-fhir/bench/run.sh            (after scripts/test.sh has
#                                               installed .venv-peers)
# Work files go to $BENCH_DIR (default /tmp/rounds-fhir-bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
BENCH_DIR=${BENCH_DIR:-/tmp/rounds-fhir-bench}
SEKMET=${ROUNDS_TEST_SEKMET:-$PWD/.venv-peers/bin/sekmet}
mkdir -p "$BENCH_DIR"
[[ -x $SEKMET ]] || { echo "sekmet not found: run scripts/test.sh first" >&2; exit 1; }
if [[ ! -x $BENCH_DIR/venv/bin/python ]] || ! "$BENCH_DIR/venv/bin/python" -c 'import fhirpy' 2>/dev/null; then
    python3 -m venv "$BENCH_DIR/venv"
    "$BENCH_DIR/venv/bin/pip" install --quiet --disable-pip-version-check fhirpy
fi
cargo build --release -p rounds-fhir --example bench
BENCH=${CARGO_TARGET_DIR:-target}/release/examples/bench

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port/fhir
work=$(mktemp -d "$BENCH_DIR/sekmet.XXXXXX")
(cd "$work" && SEKMET_BASE_URL=$base exec "$SEKMET" serve --host 127.0.0.1 --port "$port" >serve.log 2>&1) &
server=$!
cleanup() {
    local status=$?
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf -- "$work"
    exit "$status"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    curl -sf "$base/metadata" >/dev/null && break
    sleep 0.5
done
"$BENCH" seed "$base" 200 >"$work/ids.txt"
echo "seeded $(wc -l <"$work/ids.txt") patients (13 resources each) into sekmet at $base" >&2
# The server is slower for a while after seeding: settle it first.
"$BENCH" warm "$base" "$work/ids.txt" 200
"$BENCH_DIR/venv/bin/python" crates/rounds-fhir/bench/naive_fhirpy.py "$base" "$work/ids.txt" 200 >/dev/null
ROUNDS=${BENCH_ROUNDS:-5}
sekmet_version=$("$SEKMET" --version 2>/dev/null || true)
for n in 50 200; do
    for _ in $(seq 1 "$ROUNDS"); do
        "$BENCH" run "$base" "$work/ids.txt" "$n"
        "$BENCH_DIR/venv/bin/python" crates/rounds-fhir/bench/naive_fhirpy.py "$base" "$work/ids.txt" "$n"
    done
done >"$work/times.tsv"
python3 - "$work/times.tsv" "$sekmet_version" "$ROUNDS" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, client, ms = line.rstrip("\n").split("\t")
    rows[(int(n), client)].append(float(ms))
print(f"# {sys.argv[2]} on 127.0.0.1; medians of {sys.argv[3]} interleaved rounds after warm-up; ms (min-max)")
print("patients | client | median ms | range | x batch")
for n in sorted({k[0] for k in rows}):
    batch = statistics.median(rows[(n, "rounds-fhir batch")])
    for (m, client), times in sorted(rows.items(), key=lambda kv: statistics.median(kv[1])):
        if m != n:
            continue
        med = statistics.median(times)
        print(f"{n} | {client} | {med:.0f} | {min(times):.0f}-{max(times):.0f} | {med / batch:.2f}")
PY
