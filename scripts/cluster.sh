#!/usr/bin/env bash
# The reference topology on this machine, without Docker: 1 redis-server, a 3-node
# nats-server cluster, coturn (the TURN relay for clients that cannot reach the media
# ports directly) and 3 weever-streaming instances on consecutive ports, instance i
# on NATS node i (the other nodes as fallbacks), each under --supervise (started again
# within a second if it dies, e.g. when its media engine wedged). Ctrl-C (or SIGTERM) stops everything.
#
#   scripts/cluster.sh                 # public 8443-8445, private 9443-9445, TURN 3478, demo on
#   PUBLIC_PORT=18443 PRIVATE_PORT=19443 REDIS_PORT=16379 NATS_PORT=14222 TURN_PORT=13478 scripts/cluster.sh
#   TURN_CERT=cert.pem TURN_KEY=key.pem TURN_TLS_PORT=443 scripts/cluster.sh   # also TURN over TLS (turns:)
#
# coturn and the instances share a TURN REST API secret made for the run (TURN_SECRET to
# choose it): the instances hand out short-lived credentials (GET /ice-servers/…, the SDK's
# default), coturn checks them. Relay ports TURN_RELAY_PORTS (49152-49407); private address
# ranges are denied as relay peers except the instances' own address (HOST).
#
# Extra arguments go to every instance, e.g. `scripts/cluster.sh --auth`.
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLIC_PORT=${PUBLIC_PORT:-8443}
PRIVATE_PORT=${PRIVATE_PORT:-9443}
REDIS_PORT=${REDIS_PORT:-6379}
NATS_PORT=${NATS_PORT:-4222}           # client ports NATS_PORT .. NATS_PORT+2
NATS_ROUTE_PORT=${NATS_ROUTE_PORT:-6222} # cluster route ports
HOST=${HOST:-127.0.0.1}                # an address: the instances' HTTP, ICE and coturn's listener
TURN_PORT=${TURN_PORT:-3478}           # coturn, UDP and TCP
TURN_TLS_PORT=${TURN_TLS_PORT:-443}    # coturn TLS, with TURN_CERT and TURN_KEY (PEM files)
TURN_RELAY_PORTS=${TURN_RELAY_PORTS:-49152-49407}

for bin in redis-server nats-server turnserver node; do
  command -v "$bin" >/dev/null || { echo "cluster.sh: $bin not found (apt-get install redis-server nats-server coturn)" >&2; exit 1; }
done
[ -f dist/src/cli.js ] || { [ -d node_modules ] || npm ci --no-audit --no-fund; npm run -s build; }

work=$(mktemp -d -t weever-cluster.XXXXXX)
pids=()
turn_pid=""
stop() {
  trap - INT TERM EXIT
  echo "cluster.sh: stopping" >&2
  # instances first (SIGINT: they close their peers at once and leave their rooms), then NATS and Redis
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -INT "${pids[$i]}" 2>/dev/null || true; done
  [ -z "$turn_pid" ] || kill -TERM "$turn_pid" 2>/dev/null || true # coturn ignores SIGINT
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

# coturn: the secret goes in a file only we can read, never on a command line (ps shows those)
TURN_SECRET=${TURN_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
turn_urls="turn:$HOST:$TURN_PORT,turn:$HOST:$TURN_PORT?transport=tcp"
(
  umask 077
  cat >"$work/turnserver.conf" <<CONF
use-auth-secret
static-auth-secret=$TURN_SECRET
realm=weever
listening-ip=$HOST
relay-ip=$HOST
listening-port=$TURN_PORT
min-port=${TURN_RELAY_PORTS%-*}
max-port=${TURN_RELAY_PORTS#*-}
fingerprint
no-cli
no-dtls
no-multicast-peers
no-tcp-relay
denied-peer-ip=0.0.0.0-0.255.255.255
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=100.64.0.0-100.127.255.255
denied-peer-ip=127.0.0.0-127.255.255.255
denied-peer-ip=169.254.0.0-169.254.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.0.0.0-192.0.0.255
denied-peer-ip=192.168.0.0-192.168.255.255
denied-peer-ip=198.18.0.0-198.19.255.255
denied-peer-ip=::1
denied-peer-ip=64:ff9b::-64:ff9b::ffff:ffff
denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff
allowed-peer-ip=$HOST
log-file=stdout
simple-log
pidfile=$work/turnserver.pid
userdb=$work/turndb
CONF
)
case "$HOST" in 127.*) echo "allow-loopback-peers" >>"$work/turnserver.conf" ;; esac
if [ -n "${TURN_CERT:-}" ] && [ -n "${TURN_KEY:-}" ]; then
  printf 'tls-listening-port=%s\ncert=%s\npkey=%s\n' "$TURN_TLS_PORT" "$(realpath "$TURN_CERT")" "$(realpath "$TURN_KEY")" >>"$work/turnserver.conf"
  turn_urls+=",turns:$HOST:$TURN_TLS_PORT?transport=tcp"
else
  echo "no-tls" >>"$work/turnserver.conf"
fi
turnserver -c "$work/turnserver.conf" >"$work/coturn.log" 2>&1 &
turn_pid=$!
pids+=($!)
wait_port "$HOST" "$TURN_PORT" coturn
export WEEVER_TURN_SECRET=$TURN_SECRET # the instances read it from their environment (kept out of ps)

for i in 0 1 2; do
  # own node first, the two others as fallbacks
  own=${nats_urls[$i]}
  others=$(printf '%s\n' "${nats_urls[@]}" | grep -vx "$own" | paste -sd, -)
  node dist/src/cli.js --supervise --host "$HOST" --private-host "$HOST" --port $((PUBLIC_PORT + i)) --private-port $((PRIVATE_PORT + i)) \
    --redis "redis://127.0.0.1:$REDIS_PORT" --nats "$own,$others" --rtc-bind-address "$HOST" --turn "$turn_urls" --debug "$@" &
  pids+=($!)
done
for i in 0 1 2; do wait_port "$HOST" $((PRIVATE_PORT + i)) "instance $i"; done

cat >&2 <<EOF
cluster.sh: running (logs of redis, nats and coturn in $work)
  redis       redis://127.0.0.1:$REDIS_PORT
  nats        ${nats_urls[*]}
  coturn      ${turn_urls//,/ } (relay ports $TURN_RELAY_PORTS)
  instances   public http://$HOST:$PUBLIC_PORT .. $((PUBLIC_PORT + 2)), private http://$HOST:$PRIVATE_PORT .. $((PRIVATE_PORT + 2))
  demo        http://localhost:$PUBLIC_PORT/?room=demo  (and :$((PUBLIC_PORT + 1)), :$((PUBLIC_PORT + 2)))
Ctrl-C stops everything.
EOF
# Runs until a signal, or until any process of the cluster dies (then stops the rest).
wait -n "${pids[@]}" || true
echo "cluster.sh: a process of the cluster exited" >&2
exit 1
