#!/usr/bin/env bash
# Starts or kills one broker of a cluster made by start.sh, by its process id, for fault tests.
# Usage: node.sh NAME NODE start|kill   (kill is SIGKILL: the broker gets no chance to stop)
set -euo pipefail
name="$1"
node="$2"
action="$3"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/version.sh"
run="$here/.run/$name"
pidfile="$run/node-$node.pid"

case "$action" in
  start)
    # setsid: the broker outlives this script and is stopped by its pid (stop.sh).
    # -Xlog: the collector's pauses, which the benchmarks report beside the latencies.
    setsid java -Xms256m -Xmx768m -XX:+UseG1GC -Xlog:gc:file="$run/node-$node/gc.log":utctime \
      -Dlog4j.configuration="file:$run/log4j.properties" \
      -Dlog4j2.configurationFile="$run/log4j2.properties" \
      -cp "$lib/*" kafka.Kafka "$run/node-$node/server.properties" \
      >>"$run/node-$node/broker.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    ;;
  kill)
    pid="$(cat "$pidfile")"
    kill -KILL "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: node.sh NAME NODE start|kill" >&2
    exit 2
    ;;
esac
