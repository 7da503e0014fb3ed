# parkcarbon — `make demo` runs the park locally, `make test` runs every test.
# Both install what they need (Mosquitto from Debian, influxd 1.8.10 and
# staticcheck built with `go install` into the git-ignored .tools/).

GO            ?= go
TOOLS         := $(CURDIR)/.tools/bin
INFLUXD       := $(TOOLS)/influxd
STATICCHECK   := $(TOOLS)/staticcheck
SUDO          := $(if $(filter 0,$(shell id -u)),,sudo)
BINARIES      := edge-agent park-collector parkctl

.PHONY: all build deps mosquitto alertmanager chromium compose test lint demo clean fuzz chaos

all: build

build:
	@mkdir -p bin
	$(GO) build -o bin/ $(addprefix ./cmd/,$(BINARIES))

deps: mosquitto alertmanager chromium compose $(INFLUXD) $(STATICCHECK)

# Debian installs the broker in /usr/sbin, which is not always on PATH.
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then :; else \
		echo "installing mosquitto (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto; \
	fi

# Debian's Alertmanager, started by the alert tests (internal/servers).
alertmanager:
	@if command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ]; then :; else \
		echo "installing prometheus-alertmanager (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq prometheus-alertmanager; \
	fi

# Headless Chromium renders the status page in its test.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; else \
		echo "installing chromium (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; \
	fi

# docker-compose checks docker-compose.yml in deploy's test (no Docker engine needed).
compose:
	@if command -v docker-compose >/dev/null 2>&1; then :; else \
		echo "installing docker-compose (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq docker-compose; \
	fi

# influxd 1.8.10 serves the v2 write and Flux query API that
# influxdb-client-go uses; building it takes one to three minutes, once.
$(INFLUXD):
	@echo "building influxd 1.8.10 into .tools/bin (one to three minutes, once)"
	GOBIN=$(TOOLS) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: $(STATICCHECK)
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

test: deps lint
	$(GO) test -race -count=1 ./...

# The long chaos run: five minutes of kill -9, broker restarts and a 60 s
# InfluxDB outage (make test runs a 40 s variant).
CHAOS ?= 5m
chaos: deps
	PARKCARBON_CHAOS=$(CHAOS) $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 30m ./internal/e2e/

# Runs each fuzz target for FUZZTIME (default 30s). Go keeps what the fuzzer
# finds interesting in its cache; it is copied into testdata/fuzz/<target>
# so that the corpus is committed and every `go test` replays it.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
			cache="$$($(GO) env GOCACHE)/fuzz/$$pkg/$$target"; \
			dir="$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$target"; \
			if [ -d "$$cache" ]; then mkdir -p "$$dir" && cp -n "$$cache"/* "$$dir"/; fi; \
		done; \
	done

demo: deps build
	./bin/parkctl demo

clean:
	rm -rf bin .demo

# Static binaries (CGO_ENABLED=0, -trimpath, -s -w) of every command for linux/amd64, arm64
# and armv7 into the git-ignored dist/, with SHA256SUMS. PLATFORMS and BINARIES narrow it.
.PHONY: release
release:
	./scripts/release.sh
