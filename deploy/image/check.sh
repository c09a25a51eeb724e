#!/usr/bin/env bash
# Checks an image built by build.sh: its user, entrypoint, command, volumes and HEALTHCHECK,
# and, inside it as that user, `gvi-sanctions --help`, `policy validate`, `healthcheck`
# (unhealthy with nothing running) and the RocksDB binding. Usage: check.sh [TAG]
set -euo pipefail
tag="${1:-localhost/gvi-sanctions:dev}"
storage=(--storage-driver vfs)
fail() { echo "image check failed: $*" >&2; exit 1; }
config() { buildah "${storage[@]}" inspect --type image --format "$1" "$tag"; }

[ "$(config '{{.Docker.Config.User}}')" = "10001:10001" ] || fail "user is $(config '{{.Docker.Config.User}}')"
[ "$(config '{{.Docker.Config.Entrypoint}}')" = '[gvi-sanctions]' ] || fail "entrypoint"
[ "$(config '{{.Docker.Config.Cmd}}')" = '[worker]' ] || fail "command"
volumes="$(config '{{.Docker.Config.Volumes}}')"
for volume in /var/lib/gvi/tables /var/lib/gvi/gateway; do
  [[ "$volumes" == *"$volume:"* ]] || fail "no volume $volume in $volumes"
done
[ "$(config '{{.Docker.Config.Healthcheck.Test}}')" = '[CMD gvi-sanctions healthcheck]' ] \
  || fail "healthcheck $(config '{{.Docker.Config.Healthcheck}}')"

container="$(buildah "${storage[@]}" from "$tag")"
trap 'buildah "${storage[@]}" rm "$container" >/dev/null' EXIT
inside() { buildah "${storage[@]}" run --isolation chroot "$container" -- "$@"; }
[ "$(inside id -u)" = "10001" ] || fail "runs as uid $(inside id -u)"
inside gvi-sanctions --help | grep -q "worker" || fail "--help"
policy="$(inside python -c 'import workers, pathlib; print(pathlib.Path(workers.__file__).parent / "policies/default.yaml")')"
inside gvi-sanctions policy validate "$policy"
if inside gvi-sanctions healthcheck --timeout 1 2>/dev/null; then fail "healthy with nothing running"; fi
inside python -c 'import rocksdict, confluent_kafka; print("rocksdict and confluent-kafka load")'
inside sh -c '! touch /opt/gvi/written 2>/dev/null' || fail "the install is writable by the user"
echo "image $tag: user 10001, entrypoint gvi-sanctions, volumes and HEALTHCHECK as built; commands run"
