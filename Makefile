# shardproxy developer entry points. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
# The proxy binary reports this with --version.
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Seconds of fuzzing shared by all Fuzz targets in `make test` (each target
# gets FUZZ_BUDGET/N seconds, clamped to 1..5), so the phase stays near
# FUZZ_BUDGET plus build time as targets are added.
FUZZ_BUDGET ?= 45

.PHONY: help build run run-cluster run-sentinel deps test vet fuzz lint clean mutate

help:
	@echo "make build   build bin/shardproxy (version $(VERSION))"
	@echo "make run     local sandbox: 3 redis shards + proxy on 127.0.0.1:6380"
	@echo "make run-cluster  local sandbox: Redis Cluster 3+3 on 127.0.0.1:7101-7106 + proxy on 127.0.0.1:6381"
	@echo "make run-sentinel local sandbox: 3 Sentinel-managed masters + 3 replicas + 3 sentinels + proxy on 127.0.0.1:6382"
	@echo "make test    system deps, go vet, go test -race, short fuzzing"
	@echo "make lint    gofmt and go vet"
	@echo "make fuzz    run every Fuzz target briefly (FUZZ_BUDGET=$(FUZZ_BUDGET)s in total)"
	@echo "make clean   remove build output"
	@echo "make mutate  mutation testing of $(MUTATE_PKGS) (slow; not part of make test)"
	@$(if $(HARNESS),echo "make bench   side-by-side benchmark (bench-smoke: a short run)",true)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/shardproxy ./cmd/proxy

run:
	./deploy/local/run.sh

run-cluster:
	./deploy/local/run-cluster.sh

run-sentinel:
	./deploy/local/run-sentinel.sh

deps:
	./deploy/local/ensure-deps.sh

test: deps lint
	$(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory fuzz

vet:
	$(GO) vet ./...

# Every `func FuzzX(` in a _test.go file, found anew on each run. Each target
# runs from its own directory, so targets in a nested module (bench/) work too.
# Go's fuzzing engine sometimes ends a timed run with "context deadline
# exceeded" and no failing input: a race in its coordinator when the -fuzztime
# deadline fires (golang/go#75804). Such a run is repeated once with a budget
# of executions instead (the count the failed run reached), which has no
# deadline to race. A real failure writes its input and fails at once.
fuzz:
	@targets=$$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(' . \
		| grep -v '^./\.git/' | sed -E 's/^(.*)\/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($$/\1 \2/' | sort -u); \
	if [[ -z "$$targets" ]]; then echo "fuzz: no Fuzz targets"; exit 0; fi; \
	n=$$(wc -l <<<"$$targets"); secs=$$(( $(FUZZ_BUDGET) / n )); \
	(( secs > 5 )) && secs=5; (( secs < 1 )) && secs=1; \
	echo "fuzz: $$n target(s), $${secs}s each"; \
	while read -r dir name; do \
		echo "fuzz: $$dir $$name"; \
		if ! out=$$(cd "$$dir" && $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$${secs}s . 2>&1); then \
			echo "$$out"; \
			if grep -q 'context deadline exceeded' <<<"$$out" && ! grep -q 'Failing input written' <<<"$$out"; then \
				execs=$$(grep -oE 'execs: [0-9]+' <<<"$$out" | tail -1 | grep -oE '[0-9]+'); \
				execs=$${execs:-1000}; (( execs < 100 )) && execs=100; \
				echo "fuzz: $$name: the engine's deadline, no failing input; once more, $$execs executions (no deadline to race)"; \
				(cd "$$dir" && $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$${execs}x .); \
			else exit 1; fi; \
		else echo "$$out" | tail -1; fi; \
	done <<<"$$targets"

lint:
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l); \
	if [[ -n "$$files" ]]; then echo "gofmt -l lists unformatted files (fix with gofmt -w):"; echo "$$files"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

# Mutation testing with gremlins, pinned and installed into bin/tools (not a
# dependency of the module). One package at a time, one worker, tests in
# -short mode; the timeout is generous because a loaded machine otherwise
# reports slow builds as TIMED OUT. Do not add --test-cpu: gremlins 0.6.0
# passes "-cpu N" to go test as one argument, every run fails and every
# mutant counts as killed. In command, the generated table data
# (commands_gen.go, checked by golden tests) and its generator are left out.
# The table goes to $(MUTATE_OUT)/table.md.
GREMLINS_VERSION := v0.6.0
GREMLINS := bin/tools/gremlins-$(GREMLINS_VERSION)
MUTATE_PKGS ?= config hashring resp command
MUTATE_WORKERS ?= 1
MUTATE_TIMEOUT ?= 30
MUTATE_OUT ?= bench/results/mutation

$(GREMLINS):
	mkdir -p bin/tools
	GOBIN=$(abspath bin/tools) GOFLAGS= $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	mv bin/tools/gremlins $@

mutate: $(GREMLINS)
	mkdir -p $(MUTATE_OUT)
	for p in $(MUTATE_PKGS); do \
		echo "mutate: $$p"; \
		ex=(); \
		if [[ $$p == command ]]; then ex=(-E 'commands_gen\.go$$' -E 'internal/cmdgen/'); fi; \
		GOFLAGS=-short $(GREMLINS) unleash --workers $(MUTATE_WORKERS) --timeout-coefficient $(MUTATE_TIMEOUT) "$${ex[@]}" \
			-o $(MUTATE_OUT)/$$p.json ./$$p >$(MUTATE_OUT)/$$p.log 2>&1 || { tail -20 $(MUTATE_OUT)/$$p.log; exit 1; }; \
		tail -4 $(MUTATE_OUT)/$$p.log; \
	done
	$(GO) run ./internal/mutreport $(addprefix $(MUTATE_OUT)/,$(addsuffix .json,$(MUTATE_PKGS))) >$(MUTATE_OUT)/table.md || { cat $(MUTATE_OUT)/table.md; exit 1; }
	cat $(MUTATE_OUT)/table.md

# bench and bench-smoke exist once the harness does (bench/cmd/harness), run
# from bench/ when bench is its own module.
ifneq ($(wildcard bench/cmd/harness/*.go),)
ifneq ($(wildcard bench/go.mod),)
HARNESS = cd bench && $(GO) run ./cmd/harness
else
HARNESS = $(GO) run ./bench/cmd/harness
endif
.PHONY: bench bench-smoke
bench: deps build
	$(HARNESS)
bench-smoke: deps build
	$(HARNESS) -smoke
endif
