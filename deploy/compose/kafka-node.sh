#!/bin/bash
# One KRaft node (broker and controller) of deploy/compose.yaml, in the apache/kafka image:
# writes its server.properties from the environment and its secrets, formats its log folder
# once with the SCRAM users of the stack, and runs the broker. SASL_PLAINTEXT stays on the
# stack's own network; deploy/k8s and docs/operations.md put TLS in front of every client.
set -euo pipefail
: "${NODE_ID:?}" "${CLUSTER_ID:?}"
# The passwords come as files of /run/secrets (compose's secrets), never as variables.
secrets="${KAFKA_NODE_SECRETS:-/run/secrets}"
secret() {
  local file="$secrets/$1"
  [[ -s "$file" ]] || { echo "kafka-node: $file is missing or empty" >&2; exit 78; }
  tr -d '\r\n' < "$file"
}
GVI_KAFKA_ADMIN_PASSWORD=$(secret kafka-admin-password)
GVI_KAFKA_WORKER_PASSWORD=$(secret kafka-worker-password)
GVI_KAFKA_GATEWAY_PASSWORD=$(secret kafka-gateway-password)
GVI_KAFKA_CONTROLLER_PASSWORD=$(secret kafka-controller-password)
config=/var/lib/kafka/server.properties
controller_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"gvi-controller\" password=\"$GVI_KAFKA_CONTROLLER_PASSWORD\" user_gvi-controller=\"$GVI_KAFKA_CONTROLLER_PASSWORD\";"
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"gvi-admin\" password=\"$GVI_KAFKA_ADMIN_PASSWORD\";"
cat > "$config" <<PROPERTIES
node.id=$NODE_ID
process.roles=broker,controller
controller.quorum.voters=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093
controller.listener.names=CONTROLLER
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=SASL_PLAINTEXT://kafka-$NODE_ID:9092
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=$controller_jaas
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:gvi-admin;User:gvi-controller
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
auto.create.topics.enable=false
unclean.leader.election.enable=false
PROPERTIES
# The controllers log in to each other with PLAIN (KRaft keeps SCRAM users in the metadata
# they serve, so a controller cannot use SCRAM itself).
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$config" \
  --add-scram "SCRAM-SHA-512=[name=gvi-admin,password=$GVI_KAFKA_ADMIN_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name=gvi-worker,password=$GVI_KAFKA_WORKER_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name=gvi-gateway,password=$GVI_KAFKA_GATEWAY_PASSWORD]"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
