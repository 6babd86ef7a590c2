# crac-build: build pre-warmed JVM container images.
#
#   make            bin/crac-build and bin/crac-launch
#   make demo       everything from a fresh machine to a cold-vs-warm run
#   make test       unit and end-to-end tests (needs root, installs what it needs)
#   make test-faults the restore fault matrix alone
#   make e2e-coordination   the org.crac coordination tests alone
#   make e2e-podman the real-client test alone: registry -> podman pull/load -> restore
#   make e2e-docker Docker Engine alone (a dockerd of the test's own): load, pull,
#                   restart, Dockerfiles on a warm image; ends "docker: restored"
#   make e2e-containerd  containerd + ctr with examples/kubernetes' security
#                   context; ends "containerd: restored"
#   make test-matrix the support matrix alone: JDK 17/21/25 x five collectors
#   make recipes    docs/recipes.md run as written: fat jar, war in Tomcat,
#                   app with a database, org.crac app; ends "recipes: 4/4 ..."
#   make image      the crac-build image (crac-build, launcher, CRIU bundle, agent):
#                   oci-layout:build/image:crac-build
#   make e2e-containerfile  examples/containerfile with buildah, run by podman
#   make bench      startup benchmark: hello and Tomcat, cold vs restored (~20 min)

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CRIU_BUNDLE_DIR ?= build/criu
AGENT_JAR := bin/crac-agent.jar
GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*' 2>/dev/null) go.mod go.sum

.PHONY: all
all: bin/crac-build bin/crac-launch $(AGENT_JAR)

# Static too: it travels in the crac-build image and runs in any base.
bin/crac-build: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/crac-build

# The launcher runs on any base image: static, no cgo.
bin/crac-launch: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/crac-launch

# The Java agent that notifies org.crac Resources (--release 11 bytecode, a
# reproducible jar: it goes into the runtime layer). Needs a JDK 17+.
$(AGENT_JAR): $(shell find agent/java -type f 2>/dev/null) agent/build.sh
	bash agent/build.sh $@

.PHONY: agent
agent: $(AGENT_JAR)

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

COORDINATED_JAR := examples/coordinated/build/coordinated.jar
$(COORDINATED_JAR): $(shell find examples/coordinated/src -name '*.java' 2>/dev/null)
	bash examples/coordinated/build.sh

.PHONY: coordinated
coordinated: $(COORDINATED_JAR)

# docs/recipes.md's war: one servlet, compiled against the Servlet API jar
# of the Tomcat base (examples/war/build.sh takes it from there).
WAR := examples/war/build/app.war
$(WAR): $(wildcard examples/war/src/*.java) examples/war/build.sh | base-tomcat
	bash examples/war/build.sh

.PHONY: war
war: $(WAR)

# docs/recipes.md's application that needs a database at start.
DATABASE_JAR := examples/database/build/inventory.jar
$(DATABASE_JAR): $(wildcard examples/database/src/*.java) $(wildcard examples/coordinated/src/org/crac/*.java) examples/database/build.sh
	bash examples/database/build.sh

.PHONY: database
database: $(DATABASE_JAR)

HELLO_IMAGE := oci-layout:build/images:hello
.PHONY: hello-image
hello-image: all criu base hello
	./bin/crac-build build --base $(BASE_IMAGE) \
	  --add $(HELLO_JAR):/app/hello.jar --cmd "java -jar /app/hello.jar" \
	  --port 8080 --ready-url http://127.0.0.1:8080/health \
	  --warmup examples/hello/warmup.sh \
	  --output $(HELLO_IMAGE)

# The crac-build image, for Containerfiles (COPY --from) and CI.
CRAC_BUILD_IMAGE := oci-layout:build/image:crac-build
.PHONY: image
image: all criu
	$(GO) run ./internal/tools/mkimage -crac-build bin/crac-build -launcher bin/crac-launch \
	  -criu-bundle $(CRIU_BUNDLE_DIR) -agent $(AGENT_JAR) -version $(VERSION) -output $(CRAC_BUILD_IMAGE)

# examples/containerfile built by buildah and restored by podman, alone.
.PHONY: e2e-containerfile
e2e-containerfile: deps all criu base hello image
	CRAC_E2E=1 $(GO) test -count=1 -timeout 20m -run '^TestContainerfile' -v ./e2e
	@echo "containerfile: restored"

.PHONY: demo
demo: deps hello-image
	bash scripts/demo.sh $(HELLO_IMAGE)

# The benchmark: warm images of examples/hello and of Debian's Tomcat 10
# (examples webapp; on JDK 17, and on JDK 25 without and with the class
# cache), each row started BENCH_ROUNDS times, interleaved.
# Writes $(BENCH_DIR)/results.json, results.md (the docs' table) and report.html; the last lines are
# "tomcat jdk25: cold A ms, cold with cache B ms, restored C ms, restored with cache D ms" and
# "tomcat: cold N ms -> warm M ms (Rx)". Drops the page cache for a few rows
# (BENCH_FLAGS=-no-drop-caches skips them). Not part of `make test`: long.
BENCH_DIR ?= build/bench
BENCH_ROUNDS ?= 5
BENCH_FLAGS ?=
.PHONY: bench bench-png
bench: deps all criu base base-tomcat base-tomcat-jre25 hello
	@mkdir -p $(BENCH_DIR)
	CRIU_LEAN=0 bash scripts/criu-bundle.sh build/criu-full
	set -o pipefail; $(GO) run ./internal/tools/bench -out $(BENCH_DIR) -rounds $(BENCH_ROUNDS) \
	  -hello-base $(BASE_IMAGE) -tomcat-base $(TOMCAT_BASE_IMAGE) -tomcat25-base $(TOMCAT25_BASE_IMAGE) -hello-jar $(HELLO_JAR) \
	  -criu-bundle $(CRIU_BUNDLE_DIR) -criu-bundle-full build/criu-full \
	  -launcher bin/crac-launch $(BENCH_FLAGS) | tee $(BENCH_DIR)/bench.txt

# The report as headless Chromium renders it (installs Debian's chromium).
bench-png:
	bash scripts/screenshot.sh $(BENCH_DIR)/report.html $(BENCH_DIR)/report.png

.PHONY: test
# 70 minutes: the e2e builds make a class cache in a training run each, and
# the machine may be shared; CI gives the whole run 90.
test: deps all criu bases hello coordinated war database image
	CRAC_E2E=1 $(GO) test -count=1 -timeout 70m ./...

# The support matrix on its own: every JDK base x collector builds, restores
# and serves; prints the table (also in build/matrix.md) and ends with
# "matrix: K/K JDK x GC combinations restored".
MATRIX_REPORT ?= build/matrix.md
.PHONY: test-matrix
test-matrix: deps all criu bases
	@rm -f $(MATRIX_REPORT)
	CRAC_E2E=1 CRAC_MATRIX_REPORT=$(abspath $(MATRIX_REPORT)) $(GO) test -count=1 -timeout 40m -run 'TestMatrix$$' -v ./e2e; \
	  st=$$?; echo; cat $(MATRIX_REPORT) 2>/dev/null || echo "matrix: no report (the test did not get to the end)"; exit $$st

# The fault matrix alone (e2e/faults_test.go): every way a restore can fail
# must end in a cold start that serves. Its last line is the count.
.PHONY: test-faults
test-faults: deps all criu base hello
	@summary=$$(mktemp); \
	CRAC_E2E=1 CRAC_FAULTS_SUMMARY=$$summary $(GO) test -count=1 -timeout 30m -v -run '^TestFaults$$' ./e2e; st=$$?; \
	if [ -s $$summary ]; then cat $$summary; else echo "faults: the matrix did not run"; st=1; fi; \
	rm -f $$summary; exit $$st

# The coordination tests on their own (builds with a real JVM, CRIU, runc);
# the last line is the summary the tests print.
.PHONY: e2e-coordination
e2e-coordination: deps all criu base coordinated
	bash scripts/e2e-coordination.sh
# The real-client tests on their own: the distribution registry, podman
# pull and podman load, each restored and serving under podman.
.PHONY: e2e-podman
e2e-podman: deps all criu base hello
	CRAC_E2E=1 $(GO) test -count=1 -timeout 20m -run 'TestPodman' -v ./e2e
	@echo "podman: restored"

# The engines' tests write their last line themselves, only when a warm
# image restored and served under them with the documented flags.
.PHONY: e2e-docker e2e-containerd
e2e-docker: deps all criu base hello
	@rm -f build/e2e-docker.txt
	CRAC_E2E=1 CRAC_DOCKER_REPORT=$(abspath build/e2e-docker.txt) $(GO) test -count=1 -timeout 20m -run 'TestDocker$$' -v ./e2e; \
	  st=$$?; echo; cat build/e2e-docker.txt 2>/dev/null || echo "docker: test failed"; exit $$st

e2e-containerd: deps all criu base hello
	@rm -f build/e2e-containerd.txt
	CRAC_E2E=1 CRAC_CONTAINERD_REPORT=$(abspath build/e2e-containerd.txt) $(GO) test -count=1 -timeout 20m -run 'TestContainerd$$' -v ./e2e; \
	  st=$$?; echo; cat build/e2e-containerd.txt 2>/dev/null || echo "containerd: test failed"; exit $$st

# The recipes of docs/recipes.md, each run as the page writes it (a fat
# jar, a war in Tomcat, an app that needs a database at start, an org.crac
# app); the last line says how many passed.
.PHONY: recipes
recipes: deps all criu base base-tomcat hello coordinated war database
	@log=$$(mktemp); \
	CRAC_E2E=1 $(GO) test -count=1 -timeout 30m -run '^TestRecipe' -v ./e2e | tee $$log; st=$${PIPESTATUS[0]}; \
	echo "recipes: $$(grep -c '^--- PASS: TestRecipe' $$log)/4 ran end to end"; rm -f $$log; exit $$st

.PHONY: test-unit
test-unit:
	$(GO) test -count=1 ./...

.PHONY: clean
clean:
	rm -rf bin build/images build/image
