#!/usr/bin/env bash
# Fetches the pinned Apache Kafka broker jars from Maven Central into deploy/kafka/.cache/lib (once);
# GVI_KAFKA_VERSION=4.x.y fetches that release instead, into .cache/lib-4.x.y.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/version.sh"
if [ -f "$lib/.complete" ]; then
  exit 0
fi
mkdir -p "$lib"
mvn -q -B -f "$here/pom.xml" \
  -Dmaven.repo.local="$here/.cache/m2" -Dkafka.version="$kafka_version" $maven_profile \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib"
touch "$lib/.complete"
echo "kafka jars in $lib"
