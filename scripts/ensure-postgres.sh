#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at the host and port of DATABASE_URL.
#
# It checks the server, not the database the URL names: that database may not exist
# yet (`wal-ledger` creates it). A server that answers is used as it is: this script
# never edits its configuration, reloads or restarts it. Only when nothing answers and
# the URL points at this machine does it start the installed cluster, or install one
# from Debian's packages; a cluster it installed itself is the one whose pg_hba.conf it
# may set to trust loopback connections (the default URL has no password).
set -euo pipefail

url=${DATABASE_URL:?DATABASE_URL must be set}

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

apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The same URL with its database replaced by the server's maintenance database.
maintenance_url() {
    local base=${url%%\?*} query=""
    [ "$base" != "$url" ] && query="?${url#*\?}"
    local authority=${base#*://}
    authority=${authority%%/*}
    echo "${base%%://*}://${authority}/postgres${query}"
}

# Connects and authenticates to the server (pg_isready would not check credentials).
server_accepts() {
    PGCONNECT_TIMEOUT=3 psql "$(maintenance_url)" -Atqc 'SELECT 1' >/dev/null 2>&1
}

if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
    echo "installing the PostgreSQL client (psql) to check the server..." >&2
    apt_install postgresql-client
fi

if server_accepts; then
    exit 0
fi
if PGCONNECT_TIMEOUT=3 pg_isready -q -d "$(maintenance_url)"; then
    echo "PostgreSQL answers at DATABASE_URL but refuses the connection:" >&2
    PGCONNECT_TIMEOUT=3 psql "$(maintenance_url)" -Atqc 'SELECT 1' 2>&1 | sed 's/^/  /' >&2 || true
    echo "fix the user or password in DATABASE_URL; this script leaves a running server alone." >&2
    exit 1
fi

case "$url" in
    *@127.0.0.1[:/]* | *@localhost[:/]* | *@\[::1\][:/]*) ;;
    *) echo "no PostgreSQL answers at DATABASE_URL, and it is not on this machine: start it there." >&2
       exit 1 ;;
esac

installed_now=false
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "no PostgreSQL answers: installing it from Debian's packages..." >&2
    apt_install postgresql
    installed_now=true
fi

version=$(ls /etc/postgresql | sort -n | tail -n 1)
if $installed_now; then
    # Our own fresh cluster: trust loopback TCP, before it serves anyone.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i '1i # wal: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
fi
as_root pg_ctlcluster "$version" main start

deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    if server_accepts; then
        echo "PostgreSQL $version is up." >&2
        exit 0
    fi
    sleep 1
done
echo "PostgreSQL $version did not accept connections within 60 s; see /var/log/postgresql/" >&2
exit 1
