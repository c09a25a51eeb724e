#!/usr/bin/env bash
# Starts N Apache Kafka KRaft brokers (combined broker+controller) on 127.0.0.1 and prints the
# bootstrap servers. Usage: start.sh [NODES=1] [BASE_PORT=19092] [NAME=default]
# Stop them with stop.sh NAME. Data, logs and pids live in deploy/kafka/.run/NAME (git-ignored).
#
# With KAFKA_SECURE_DIR set, the cluster is what production looks like (DESIGN §6, §9): clients
# reach a SASL_SSL listener (SCRAM-SHA-512 or -256), brokers and controllers talk mutual TLS,
# and StandardAuthorizer denies whatever no ACL allows. The folder holds:
#   broker.pem     the brokers' private key (PKCS#8) and certificate chain, for 127.0.0.1
#   ca.pem         the CA that signed it (clients trust it; controllers check brokers by it)
#   scram-users    one `name password` line per SCRAM user; the first is the super user that
#                  brokers log in as and that applies the ACLs (`gvi-sanctions acls --apply`)
# The brokers' certificate's common name is their principal (User:<CN>), a super user too.
set -euo pipefail
nodes="${1:-1}"
base_port="${2:-19092}"
name="${3:-default}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/version.sh"
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

cat > "$run/log4j2.properties" <<LOG
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
LOG
cat > "$run/log4j.properties" <<LOG
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
LOG

secure="${KAFKA_SECURE_DIR:-}"
scram_args=()
if [ -n "$secure" ]; then
  read -r admin_user admin_password < "$secure/scram-users"
  broker_cn="$(openssl x509 -in "$secure/broker.pem" -noout -subject -nameopt RFC2253 \
    | sed -n 's/^subject=.*CN=\([^,]*\).*$/\1/p')"
  while read -r user password; do
    [ -n "$user" ] || continue
    scram_args+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
    scram_args+=(--add-scram "SCRAM-SHA-256=[name=$user,password=$password]")
  done < "$secure/scram-users"
fi

cluster_id="$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
for i in $(seq 1 "$nodes"); do
  port=$(( base_port + i - 1 ))
  controller_port=$(( base_port + 100 + i ))
  mkdir -p "$run/node-$i/data"
  if [ -n "$secure" ]; then
    # Clients log in over SASL_SSL, or over mutual TLS on port + 200 (the certificate's CN is
    # the principal, by the mapping rule below).
    mtls_port=$(( port + 200 ))
    listeners="listeners=SASL_SSL://127.0.0.1:$port,MTLS://127.0.0.1:$mtls_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port,MTLS://127.0.0.1:$mtls_port
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:SSL
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$admin_user\" password=\"$admin_password\";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$admin_user\" password=\"$admin_password\";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$secure/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$secure/ca.pem
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$admin_user;User:$broker_cn"
  else
    listeners="listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  fi
  cat > "$run/node-$i/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
$listeners
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
    -c "$run/node-$i/server.properties" --ignore-formatted "${scram_args[@]}" \
    >"$run/node-$i/format.log" 2>&1
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
