# crac-build: build pre-warmed JVM container images.
#
#   make            bin/crac-build and bin/crac-launch
#   make demo       everything from a fresh machine to a cold-vs-warm run
#   make test       unit and end-to-end tests (needs root, installs what it needs)
#   make bench      startup benchmark: hello and Tomcat, cold vs restored (~20 min)

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CRIU_BUNDLE_DIR ?= build/criu
GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*' 2>/dev/null) go.mod go.sum

.PHONY: all
all: bin/crac-build bin/crac-launch

bin/crac-build: $(GO_SOURCES)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/crac-build

# The launcher runs on any base image: static, no cgo.
bin/crac-launch: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/crac-launch

include scripts/criu.mk
include scripts/base.mk

.PHONY: deps
deps: ## host packages the build and the tests use (Debian bookworm)
	bash scripts/host-deps.sh

HELLO_JAR := examples/hello/build/hello.jar
$(HELLO_JAR): $(wildcard examples/hello/src/*.java)
	bash examples/hello/build.sh

.PHONY: hello
hello: $(HELLO_JAR)

HELLO_IMAGE := oci-layout:build/images:hello
.PHONY: hello-image
hello-image: all criu base hello
	./bin/crac-build build --base $(BASE_IMAGE) \
	  --add $(HELLO_JAR):/app/hello.jar --cmd "java -jar /app/hello.jar" \
	  --port 8080 --ready-url http://127.0.0.1:8080/health \
	  --warmup examples/hello/warmup.sh \
	  --output $(HELLO_IMAGE)

.PHONY: demo
demo: deps hello-image
	bash scripts/demo.sh $(HELLO_IMAGE)

# The benchmark: warm images of examples/hello and of Debian's Tomcat 10
# (examples webapp), each row started BENCH_ROUNDS times, interleaved.
# Writes $(BENCH_DIR)/results.json and report.html; the last line is
# "tomcat: cold N ms -> warm M ms (Rx)". Drops the page cache for a few rows
# (BENCH_FLAGS=-no-drop-caches skips them). Not part of `make test`: long.
BENCH_DIR ?= build/bench
BENCH_ROUNDS ?= 5
BENCH_FLAGS ?=
.PHONY: bench bench-png
bench: deps all criu base base-tomcat hello
	@mkdir -p $(BENCH_DIR)
	set -o pipefail; $(GO) run ./internal/tools/bench -out $(BENCH_DIR) -rounds $(BENCH_ROUNDS) \
	  -hello-base $(BASE_IMAGE) -tomcat-base $(TOMCAT_BASE_IMAGE) -hello-jar $(HELLO_JAR) \
	  -criu-bundle $(CRIU_BUNDLE_DIR) -launcher bin/crac-launch $(BENCH_FLAGS) | tee $(BENCH_DIR)/bench.txt

# The report as headless Chromium renders it (installs Debian's chromium).
bench-png:
	bash scripts/screenshot.sh $(BENCH_DIR)/report.html $(BENCH_DIR)/report.png

.PHONY: test
test: deps all criu base hello
	CRAC_E2E=1 $(GO) test -count=1 -timeout 40m ./...

.PHONY: test-unit
test-unit:
	$(GO) test -count=1 ./...

.PHONY: clean
clean:
	rm -rf bin build/images
