#!/usr/bin/env bash
# Stops the brokers started by start.sh NAME, by their process ids. Usage: stop.sh [NAME=default]
set -uo pipefail
name="${1:-default}"
run="$(cd "$(dirname "$0")" && pwd)/.run/$name"
shopt -s nullglob
pids=()
for pidfile in "$run"/node-*.pid; do
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  rm -f "$pidfile"
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
done
echo "stopped ${#pids[@]} broker(s) of cluster $name"
