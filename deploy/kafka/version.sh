# Sourced by fetch.sh, start.sh and node.sh: which Apache Kafka release, and where its jars are.
# GVI_KAFKA_VERSION (default 3.9.1, the one CI tests every tier on); 4.x uses log4j2.
kafka_version="${GVI_KAFKA_VERSION:-3.9.1}"
if [ "$kafka_version" = "3.9.1" ]; then
  lib="$here/.cache/lib"
else
  lib="$here/.cache/lib-$kafka_version"
fi
case "$kafka_version" in
  4.*) maven_profile="-Pkafka4" ;;
  *) maven_profile="" ;;
esac
