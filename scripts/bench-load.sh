#!/usr/bin/env bash
# bench-load.sh: seeds a fresh database with BENCH_ROWS records of each kind
# (default 1,000,000), starts the portal on it and runs cmd/loadtest against
# it. SQLite by default; run it under scripts/with-postgres.sh to measure
# PostgreSQL (a new database on that throwaway cluster).
#   BENCH_ROWS=1000000 BENCH_DURATION=10s BENCH_CONCURRENCY=16 scripts/bench-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${BENCH_ROWS:-1000000}
dir=$(mktemp -d /tmp/portal-load.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

go build -o "$dir/portal" ./cmd/portal
go build -o "$dir/seed" ./cmd/seed
go build -o "$dir/loadtest" ./cmd/loadtest

db_env=("PORTAL_DB=$dir/portal.db")
what=SQLite
if [ -n "${PORTAL_TEST_DATABASE_URL:-}" ]; then
	name="portal_load_$$"
	psql "$PORTAL_TEST_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
	db_env=("DATABASE_URL=${PORTAL_TEST_DATABASE_URL%/*}/$name?sslmode=disable")
	what=PostgreSQL
fi

echo "seeding $rows records of each kind ($what)..."
env "${db_env[@]}" "$dir/seed" -rows "$rows"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="load test staff password"
env -i PATH="$PATH" HOME="$HOME" "${db_env[@]}" PORTAL_ADDR="127.0.0.1:$port" PORTAL_SANDBOX=on \
	PORTAL_ADMIN_PASSWORD="$password" PORTAL_LOG_LEVEL=warn "$dir/portal" >"$dir/portal.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$dir/portal.log"; exit 1; }

echo "$what, $rows rows per kind, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%F)"
"$dir/loadtest" -base "http://127.0.0.1:$port" -password "$password" -ids "$rows" \
	-d "${BENCH_DURATION:-10s}" -c "${BENCH_CONCURRENCY:-16}" ${BENCH_ONLY:+-only "$BENCH_ONLY"}
if grep -q '"level":"ERROR"' "$dir/portal.log"; then
	echo "the portal logged errors under load:"; grep '"level":"ERROR"' "$dir/portal.log" | head -5; exit 1
fi
