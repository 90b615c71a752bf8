# make test       the default suite with the race detector (a few minutes on 2 cores)
# make test-long  the same plus the long runs (KAUTH_LONG=1): Redis Sentinel and
#                 Cluster topologies and failovers, thirty virtual days, the release
#                 build; as CI runs it
# make bench      every benchmark and load test behind BENCHMARKS.md
# make fuzz       each fuzzer for FUZZTIME (default 10000x), as CI runs them
# make dist       release archives and SHA256SUMS in dist/ (VERSION=v1.2.0 to name one)

GO       ?= go
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# report its own end as a failure, "context deadline exceeded" with no
# failing input (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 10000x

# package:fuzzer, one per fuzz target in the repository.
FUZZERS := \
	./kis:FuzzCheckResponse \
	./kis:FuzzDecodeToken \
	./kis:FuzzParseExpiry \
	./kiwoom:FuzzCheckResponse \
	./kiwoom:FuzzDecodeToken \
	./kiwoom:FuzzParseExpiry \
	./internal/seal:FuzzOpen \
	./store/file:FuzzLoad \
	./store/file:FuzzKeyFile \
	./agent:FuzzParseConfig \
	./agent:FuzzLoadConfig \
	./agent:FuzzCanonicalPath \
	./agent:FuzzScrubBody \
	./kis:FuzzParseRealtime \
	./kiwoom:FuzzParseRealtime \
	./toss:FuzzParseRealtime

.PHONY: test test-long bench fuzz dist

# A race-built binary sleeps 1 s at exit by default; every test process
# and re-executed child would pay it.
test: export GORACE ?= atexit_sleep_ms=0
test:
	$(GO) vet ./...
	$(GO) test -race -timeout 10m ./...

test-long: export GORACE ?= atexit_sleep_ms=0
test-long: export KAUTH_LONG = 1
test-long:
	$(GO) vet ./...
	$(GO) test -race -timeout 45m ./...

# Every target of scripts/dist.sh; VERSION defaults to git describe.
dist:
	VERSION='$(VERSION)' ./scripts/dist.sh

bench:
	./bench/run.sh

fuzz:
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; name=$${f##*:}; \
		echo "$(GO) test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
