#!/usr/bin/env bash
# A local Redis Cluster with the module loaded: 3 primaries and 3 replicas
# on 127.0.0.1, ports BASE to BASE+5 (cluster bus: the same plus 10000),
# no persistence, each node in its own directory. Ready means every node
# reports cluster_state:ok and every replica has synced with its primary.
#
#   scripts/cluster.sh [run] [BASE]   start, wait in the foreground, and
#                                     stop everything on Ctrl-C (make cluster)
#   scripts/cluster.sh start [BASE]   start and return, leaving it running
#   scripts/cluster.sh stop [BASE]    stop what 'start' started on BASE and
#                                     remove its directories
#
# BASE is the first argument after the command, else $MAVG_CLUSTER_PORT,
# else 30001. The nodes live in $MAVG_CLUSTER_DIR/PORT, by default
# ${TMPDIR:-/tmp}/redis-mavg-cluster-BASE/PORT, with their logs. The module
# is target/release/libredis_mavg.so unless MAVG_MODULE names another file.
# Once every node reports cluster_state:ok, connect with
# 'redis-cli -c -p BASE' (-c follows MOVED redirections).
# -E: the ERR trap that stops a half-started cluster fires in functions.
set -Eeuo pipefail

cd "$(dirname "$0")/.."

readonly NODES=6
readonly NODE_TIMEOUT_MS=2000
readonly READY_TIMEOUT_S=60

command="${1:-run}"
case "$command" in
  run | start | stop) shift || true ;;
  [0-9]*) command=run ;;
  *)
    sed -n '2,/^# -E/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
base="${1:-${MAVG_CLUSTER_PORT:-30001}}"
if ! [[ "$base" =~ ^[0-9]+$ ]] || ((base < 1024 || base > 55530)); then
  echo "cluster: base port $base is not from 1024 to 55530" >&2
  exit 2
fi
root="${MAVG_CLUSTER_DIR:-${TMPDIR:-/tmp}/redis-mavg-cluster-$base}"
ports=()
for ((i = 0; i < NODES; i++)); do
  ports+=($((base + i)))
done

# Prints the pid of the node on port $1 if the process its pidfile names is
# that node, and nothing otherwise (no pidfile, or a stale one).
node_pid() {
  local pidfile="$root/$1/redis.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  # A running redis-server titles itself 'redis-server 127.0.0.1:PORT ...'.
  if [[ "$pid" =~ ^[0-9]+$ ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
    grep -q "^redis-server 127.0.0.1:$1 "; then
    echo "$pid"
  fi
}

# Stops every node started here (SIGTERM, then SIGKILL after 10 s) and
# removes the cluster's directory.
stop_cluster() {
  local port pid pids=()
  for port in "${ports[@]}"; do
    pid="$(node_pid "$port")"
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$root"
}

# Fails if anything listens on port $1 of 127.0.0.1.
check_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "cluster: port $1 is taken; pick another base port" >&2
    return 1
  fi
}

# Starts the node on port $1 in the background, in its own directory.
# Each primary has one replica: a full sync need not wait 5 s for more.
start_node() {
  local dir="$root/$1"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$1" \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --appendonly no --save "" \
    --repl-diskless-sync-delay 0 \
    --loadmodule "$module" --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
}

# Polls `$2...` every 0.2 s until it succeeds; fails after
# READY_TIMEOUT_S seconds, saying that $1 did not happen.
wait_for() {
  local what="$1"
  shift
  for _ in $(seq $((READY_TIMEOUT_S * 5))); do
    "$@" && return 0
    sleep 0.2
  done
  echo "cluster: timed out waiting until $what" >&2
  return 1
}

# Whether the node on port $1 answers PING.
answers() {
  [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ]
}

# Whether every node reports cluster_state:ok.
all_ok() {
  local port
  for port in "${ports[@]}"; do
    redis-cli -p "$port" CLUSTER INFO 2>/dev/null |
      grep -q '^cluster_state:ok' || return 1
  done
}

# Whether every replica's link to its primary is up.
replicas_synced() {
  local port info
  for port in "${ports[@]}"; do
    info="$(redis-cli -p "$port" INFO replication 2>/dev/null)" || return 1
    if grep -q '^role:slave' <<<"$info"; then
      grep -q '^master_link_status:up' <<<"$info" || return 1
    fi
  done
}

start_cluster() {
  module="${MAVG_MODULE:-target/release/libredis_mavg.so}"
  if [ ! -f "$module" ]; then
    echo "cluster: no module at $module; run 'cargo build --release'" >&2
    exit 1
  fi
  # Redis changes into --dir before it loads modules: give it a full path.
  module="$(realpath "$module")"
  if [ -e "$root" ]; then
    echo "cluster: $root exists: is a cluster on $base running?" \
      "('$0 stop $base' stops it)" >&2
    exit 1
  fi
  local port
  for port in "${ports[@]}"; do
    check_free "$port"
    check_free $((port + 10000))
  done

  trap 'stop_cluster; exit 1' ERR
  trap 'stop_cluster; exit 130' INT
  trap 'stop_cluster; exit 143' TERM
  for port in "${ports[@]}"; do
    start_node "$port"
  done
  for port in "${ports[@]}"; do
    wait_for "port $port answers" answers "$port"
  done
  local addresses=("${ports[@]/#/127.0.0.1:}")
  if ! redis-cli --cluster create "${addresses[@]}" \
    --cluster-replicas 1 --cluster-yes >"$root/create.log" 2>&1; then
    cat "$root/create.log" >&2
    false
  fi
  wait_for "every node reports cluster_state:ok" all_ok
  wait_for "every replica has synced" replicas_synced
  trap - ERR INT TERM

  echo "cluster: 3 primaries and 3 replicas on 127.0.0.1:$base-$((base + 5))"
  echo "cluster: module $module; nodes and logs in $root"
  echo "cluster: connect with 'redis-cli -c -p $base'"
}

case "$command" in
  start)
    start_cluster
    echo "cluster: stop with '$0 stop $base'"
    ;;
  stop)
    stop_cluster
    ;;
  run)
    start_cluster
    echo "cluster: Ctrl-C stops it"
    trap 'exit 0' INT TERM
    trap stop_cluster EXIT
    while :; do
      sleep 1 &
      wait $! || true
    done
    ;;
esac
