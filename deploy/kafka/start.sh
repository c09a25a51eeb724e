#!/usr/bin/env bash
# Starts N Apache Kafka KRaft brokers (combined broker+controller) on 127.0.0.1 and prints the
# bootstrap servers. Usage: start.sh [NODES=1] [BASE_PORT=19092] [NAME=default]
# Stop them with stop.sh NAME. Data, logs and pids live in deploy/kafka/.run/NAME (git-ignored).
set -euo pipefail
nodes="${1:-1}"
base_port="${2:-19092}"
name="${3:-default}"
here="$(cd "$(dirname "$0")" && pwd)"
lib="$here/.cache/lib"
run="$here/.run/$name"

"$here/fetch.sh" >&2
if [ -d "$run" ] && ls "$run"/node-*.pid >/dev/null 2>&1; then
  echo "cluster $name seems to run already; stop it first: $here/stop.sh $name" >&2
  exit 1
fi
rm -rf "$run"
mkdir -p "$run"

replication=$(( nodes >= 3 ? 3 : nodes ))
min_isr=$(( nodes >= 3 ? 2 : 1 ))
voters=""
bootstrap=""
for i in $(seq 1 "$nodes"); do
  voters+="${voters:+,}$i@127.0.0.1:$(( base_port + 100 + i ))"
  bootstrap+="${bootstrap:+,}127.0.0.1:$(( base_port + i - 1 ))"
done

cat > "$run/log4j.properties" <<LOG
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
LOG

cluster_id="$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
for i in $(seq 1 "$nodes"); do
  port=$(( base_port + i - 1 ))
  controller_port=$(( base_port + 100 + i ))
  mkdir -p "$run/node-$i/data"
  cat > "$run/node-$i/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/node-$i/data
num.partitions=4
default.replication.factor=$replication
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPS
  java -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$run/node-$i/server.properties" --ignore-formatted >"$run/node-$i/format.log" 2>&1
done

for i in $(seq 1 "$nodes"); do
  "$here/node.sh" "$name" "$i" start
done

deadline=$(( SECONDS + 90 ))
for i in $(seq 1 "$nodes"); do
  port=$(( base_port + i - 1 ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$(cat "$run/node-$i.pid")" 2>/dev/null; then
      echo "broker $i exited; see $run/node-$i/broker.log" >&2
      tail -n 20 "$run/node-$i/broker.log" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "broker $i did not listen on $port within 90 s" >&2
      exit 1
    fi
    sleep 0.5
  done
done
echo "$bootstrap" > "$run/bootstrap"
echo "$bootstrap"
