#!/usr/bin/env bash
# with-postgres.sh CMD...: runs CMD with PORTAL_TEST_DATABASE_URL pointing at
# a throwaway PostgreSQL cluster on loopback, and stops and deletes the
# cluster when CMD ends, however it ends. Installs Debian's postgresql when
# it is missing and we are root (as on CI); otherwise says what to install.
set -euo pipefail

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

bin=$(find_bin)
if [ -z "$bin" ]; then
	if [ "$(id -u)" = "0" ]; then
		echo "Installing postgresql for the PostgreSQL test run..."
		apt-get update -qq
		# The package's own cluster is not needed: policy-rc.d keeps it from starting.
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
		bin=$(find_bin)
	fi
	if [ -z "$bin" ]; then
		echo "PostgreSQL is not installed: run 'sudo apt-get install postgresql' to run the tests on PostgreSQL too." >&2
		exit 1
	fi
fi

dir=$(mktemp -d /tmp/portal-pg.XXXXXX)
run_as=()
if [ "$(id -u)" = "0" ]; then
	# initdb and postgres refuse to run as root.
	id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
	chown postgres "$dir"
	run_as=(runuser -u postgres --)
fi

# A free loopback port: ask the kernel for one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))

stop() {
	"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap stop EXIT

"${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
# Durability settings stay at their defaults: the portal refuses a server
# that would lose a commit, and the tests run the portal as it is.
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" \
	start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }

export PORTAL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port for this run"
set +e
"$@"
rc=$?
exit $rc
