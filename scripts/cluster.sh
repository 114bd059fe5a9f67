#!/usr/bin/env bash
# The reference topology on this machine, without Docker: 1 redis-server, a 3-node
# nats-server cluster and 3 weever-streaming instances on consecutive ports, instance i
# on NATS node i (the other nodes as fallbacks), each under --supervise (started again
# within a second if it dies, e.g. when its media engine wedged). Ctrl-C (or SIGTERM) stops everything.
#
#   scripts/cluster.sh                 # public 8443-8445, private 9443-9445, demo on
#   PUBLIC_PORT=18443 PRIVATE_PORT=19443 REDIS_PORT=16379 NATS_PORT=14222 scripts/cluster.sh
#
# Extra arguments go to every instance, e.g. `scripts/cluster.sh --auth`.
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLIC_PORT=${PUBLIC_PORT:-8443}
PRIVATE_PORT=${PRIVATE_PORT:-9443}
REDIS_PORT=${REDIS_PORT:-6379}
NATS_PORT=${NATS_PORT:-4222}           # client ports NATS_PORT .. NATS_PORT+2
NATS_ROUTE_PORT=${NATS_ROUTE_PORT:-6222} # cluster route ports
HOST=${HOST:-127.0.0.1}

for bin in redis-server nats-server node; do
  command -v "$bin" >/dev/null || { echo "cluster.sh: $bin not found (apt-get install redis-server nats-server)" >&2; exit 1; }
done
[ -f dist/src/cli.js ] || { [ -d node_modules ] || npm ci --no-audit --no-fund; npm run -s build; }

work=$(mktemp -d -t weever-cluster.XXXXXX)
pids=()
stop() {
  trap - INT TERM EXIT
  echo "cluster.sh: stopping" >&2
  # instances first (SIGINT: they close their peers at once and leave their rooms), then NATS and Redis
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -INT "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit 0
}
trap stop INT TERM EXIT

wait_port() { # host port what
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster.sh: $3 did not open port $2" >&2
  exit 1
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$REDIS_PORT" redis-server

routes=""
for i in 0 1 2; do routes+="${routes:+,}nats://127.0.0.1:$((NATS_ROUTE_PORT + i))"; done
nats_urls=()
for i in 0 1 2; do
  nats-server --addr 127.0.0.1 --port $((NATS_PORT + i)) --name "weever-nats-$i" \
    --cluster_name weever --cluster "nats://127.0.0.1:$((NATS_ROUTE_PORT + i))" --routes "$routes" \
    >"$work/nats-$i.log" 2>&1 &
  pids+=($!)
  nats_urls+=("nats://127.0.0.1:$((NATS_PORT + i))")
done
for i in 0 1 2; do wait_port 127.0.0.1 $((NATS_PORT + i)) "nats-server $i"; done

for i in 0 1 2; do
  # own node first, the two others as fallbacks
  own=${nats_urls[$i]}
  others=$(printf '%s\n' "${nats_urls[@]}" | grep -vx "$own" | paste -sd, -)
  node dist/src/cli.js --supervise --host "$HOST" --private-host "$HOST" --port $((PUBLIC_PORT + i)) --private-port $((PRIVATE_PORT + i)) \
    --redis "redis://127.0.0.1:$REDIS_PORT" --nats "$own,$others" --debug "$@" &
  pids+=($!)
done
for i in 0 1 2; do wait_port "$HOST" $((PRIVATE_PORT + i)) "instance $i"; done

cat >&2 <<EOF
cluster.sh: running (logs of redis and nats in $work)
  redis       redis://127.0.0.1:$REDIS_PORT
  nats        ${nats_urls[*]}
  instances   public http://$HOST:$PUBLIC_PORT .. $((PUBLIC_PORT + 2)), private http://$HOST:$PRIVATE_PORT .. $((PRIVATE_PORT + 2))
  demo        http://localhost:$PUBLIC_PORT/?room=demo  (and :$((PUBLIC_PORT + 1)), :$((PUBLIC_PORT + 2)))
Ctrl-C stops everything.
EOF
# Runs until a signal, or until any process of the cluster dies (then stops the rest).
wait -n "${pids[@]}" || true
echo "cluster.sh: a process of the cluster exited" >&2
exit 1
