#!/usr/bin/env bash
# Fetches the pinned Apache Kafka broker jars from Maven Central into deploy/kafka/.cache/lib (once).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lib="$here/.cache/lib"
if [ -f "$lib/.complete" ]; then
  exit 0
fi
mkdir -p "$lib"
mvn -q -B -f "$here/pom.xml" \
  -Dmaven.repo.local="$here/.cache/m2" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib"
touch "$lib/.complete"
echo "kafka jars in $lib"
