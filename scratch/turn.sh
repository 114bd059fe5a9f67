#!/bin/bash
# usage: turn.sh PORT SECONDS  — coturn on 127.0.0.1:PORT (udp+tcp), user u:p, for SECONDS
exec timeout "$2" turnserver -n --no-cli --lt-cred-mech --user=u:p --realm=test --allow-loopback-peers --relay-ip=127.0.0.1 --listening-ip=127.0.0.1 --listening-port="$1" --no-tls --no-dtls --log-file=stdout
