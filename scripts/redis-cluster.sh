#!/usr/bin/env bash
# A local Redis Cluster for tests and benchmarks: 3 masters with one replica each, on loopback ports.
#
#   scripts/redis-cluster.sh start   # ports 7000-7005 (REDIS_CLUSTER_PORT=7100 for 7100-7105)
#   scripts/redis-cluster.sh stop    # returns once the servers have exited (at most 10 s)
#   scripts/redis-cluster.sh status  # exit status 0 if the cluster is up and healthy
#   scripts/redis-cluster.sh url     # redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
#
# Nodes keep nothing on disk (no RDB, no AOF) and live in $REDIS_CLUSTER_DIR (default /tmp/liteflow-
# redis-cluster-<first port>). cluster-node-timeout is 1000 ms, so a killed master's replica is promoted
# within a few seconds (the failover test relies on it).
set -euo pipefail

FIRST_PORT="${REDIS_CLUSTER_PORT:-7000}"
DIR="${REDIS_CLUSTER_DIR:-/tmp/liteflow-redis-cluster-$FIRST_PORT}"
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=("$((FIRST_PORT + i))"); done

url() {
  echo "redis+cluster://127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"
}

healthy() {
  redis-cli -p "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  [ "$(redis-cli -p "${PORTS[0]}" cluster nodes 2>/dev/null | grep -c 'master' || true)" -ge 3 ] || return 1
}

start() {
  if healthy; then
    echo "cluster already up: $(url)"
    return 0
  fi
  mkdir -p "$DIR"
  for port in "${PORTS[@]}"; do
    rm -f "$DIR/nodes-$port.conf"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$DIR/nodes-$port.conf" --cluster-node-timeout 1000 \
      --save "" --appendonly no --dir "$DIR" --pidfile "$DIR/redis-$port.pid" --logfile "$DIR/redis-$port.log"
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local nodes=()
  for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log"
  for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
  healthy || { echo "cluster did not come up (see $DIR)" >&2; exit 1; }
  # replicas must have synced before a failover can promote them
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do
      role="$(redis-cli -p "$port" role | head -1)"
      [ "$role" = "master" ] && break
      [ "$(redis-cli -p "$port" info replication | tr -d '\r' | grep '^master_link_status:' | cut -d: -f2)" = "up" ] && break
      sleep 0.1
    done
  done
  echo "cluster up: $(url)"
}

stop() {
  local pids=()
  for port in "${PORTS[@]}"; do
    if [ -f "$DIR/redis-$port.pid" ]; then
      pid="$(cat "$DIR/redis-$port.pid")"
      kill "$pid" 2>/dev/null && pids+=("$pid")
      rm -f "$DIR/redis-$port.pid"
    fi
  done
  # wait (at most 10 s) until they have exited and freed their ports, so that a start can follow
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "redis-server $pid still running after 10 s" >&2
      exit 1
    fi
  done
  rm -f "$DIR"/nodes-*.conf
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  url) url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
