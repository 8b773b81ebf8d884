#!/usr/bin/env bash
# Makes sure the PostgreSQL named by DATABASE_URL answers. If none does and the URL
# points at this machine, installs PostgreSQL from Debian's packages, starts it, and
# lets local TCP connections in without a password (a development machine's set-up).
set -euo pipefail

url=${DATABASE_URL:?DATABASE_URL must be set}

# Connects and authenticates (pg_isready would not check the credentials).
reachable() {
    command -v psql >/dev/null 2>&1 && PGCONNECT_TIMEOUT=3 psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root to run: $* (run as root or install sudo)" >&2
        exit 1
    fi
}

if reachable; then
    exit 0
fi

case "$url" in
    *@127.0.0.1[:/]* | *@localhost[:/]* | *@\[::1\][:/]*) ;;
    *) echo "PostgreSQL at DATABASE_URL is not reachable, and it is not on this machine: start it there." >&2
       exit 1 ;;
esac

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "PostgreSQL is not reachable: installing it from Debian's packages..." >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

version=$(ls /etc/postgresql | sort -n | tail -n 1)
hba=/etc/postgresql/$version/main/pg_hba.conf
# Trust local TCP connections (the default URL has no password), once.
if ! as_root grep -q '^# wal: trust loopback' "$hba"; then
    as_root sed -i '1i # wal: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
if as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    as_root pg_ctlcluster "$version" main reload
else
    as_root pg_ctlcluster "$version" main start
fi

for _ in $(seq 1 60); do
    if reachable; then
        echo "PostgreSQL $version is up." >&2
        exit 0
    fi
    sleep 1
done
echo "PostgreSQL did not come up within 60 s; see /var/log/postgresql/" >&2
exit 1
