#!/usr/bin/env bash
# Runs the demo (examples/demo.rs) against a throwaway server: starts
# redis-server on 127.0.0.1 on a free port, with the module loaded, no
# persistence and a temporary --dir, runs the demo against it, and always
# stops the server and removes the directory on exit.
#
# The module is target/release/libredis_mavg.so unless MAVG_MODULE names
# another file. Extra arguments go to the demo (for example --svg out.svg).
set -euo pipefail

cd "$(dirname "$0")/.."

module="${MAVG_MODULE:-target/release/libredis_mavg.so}"
if [ ! -f "$module" ]; then
  echo "demo: no module at $module; run 'cargo build --release'" >&2
  exit 1
fi
# Redis changes into --dir before it loads modules: give it a full path.
module="$(realpath "$module")"

workdir="$(mktemp -d)"
server_pid=""

# Stops the server, if one was started, and removes the temporary directory.
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a port from 20000 to 59999 that nothing on 127.0.0.1 listens on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Starts redis-server on port $1 in the background, logging to
# $workdir/redis-$1.log; sets server_pid.
start_server() {
  redis-server --bind 127.0.0.1 --port "$1" --dir "$workdir" \
    --save "" --appendonly no --logfile "$workdir/redis-$1.log" \
    --loadmodule "$module" &
  server_pid=$!
}

# Waits up to five seconds for the server on port $1 to answer, and checks
# that the answer comes from the server started here, not from another one
# that holds the port. Fails early if the server has exited.
wait_for_server() {
  for _ in $(seq 50); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]
    then
      local info
      info="$(redis-cli -h 127.0.0.1 -p "$1" INFO server)"
      grep -q "^process_id:$server_pid\b" <<<"$info"
      return
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# Stops a server that did not come up and shows the end of its log.
abandon_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "demo: redis-server did not start on port $1:" >&2
  tail -n 3 "$workdir/redis-$1.log" >&2 || true
}

# Another process may take the port between the check and the start: try
# again then, and only then.
for try in 1 2 3; do
  port="$(free_port)"
  start_server "$port"
  wait_for_server "$port" && break
  abandon_server "$port"
  if [ "$try" -eq 3 ] ||
     ! grep -q "Address already in use" "$workdir/redis-$port.log"; then
    exit 1
  fi
done

echo "demo: redis-server on 127.0.0.1:$port with $module"
cargo run --release --example demo -- \
  --url "redis://127.0.0.1:$port/" "$@"
