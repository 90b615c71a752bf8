#!/bin/sh
# Reproduces every number in BENCHMARKS.md on this machine: the Go
# benchmarks (warm cache, cold-start storms, thirty virtual days), the agent
# load test, the agent memory probe and the WebSocket fan-out. Loopback (127.0.0.1) only. The Redis
# storm uses db 15 of 127.0.0.1:6379 unless KAUTH_TEST_REDIS says otherwise, and is
# skipped without one (unless CI=true).
#
#   ./bench/run.sh            # or: make bench
set -eu
cd "$(dirname "$0")/.."

echo "# $(date -u +%Y-%m-%d) $(go version) GOMAXPROCS=$(getconf _NPROCESSORS_ONLN) $(uname -sm)"
echo
echo "## Warm cache (go test -run '^\$' -bench WarmToken -benchmem -cpu 1,2,4,8 -count 5 ./bench)"
go test -run '^$' -bench 'WarmToken' -benchmem -cpu 1,2,4,8 -count 5 ./bench
echo
echo "## Cold-start storms and thirty days (go test -run '^\$' -bench 'ColdStorm|ThirtyDays' -benchtime 3x ./bench)"
go test -run '^$' -bench 'ColdStorm|ThirtyDays' -benchtime 3x -v ./bench | grep -v '^=== RUN'
echo
echo "## Agent on loopback (go run ./bench/cmd/load)"
go run ./bench/cmd/load
echo
echo "## Agent at scale: 1,000 accounts, file store and Redis, 60 s idle (go run ./bench/cmd/agentmem)"
go run ./bench/cmd/agentmem
echo
echo "## Agent at scale: 5,000 accounts (go run ./bench/cmd/agentmem -accounts 5000 -idle 65s)"
go run ./bench/cmd/agentmem -accounts 5000 -idle 65s
echo
echo "## Facade and proxy as accounts grow (go run ./bench/cmd/facadescale)"
go run ./bench/cmd/facadescale
echo
echo "## Wakeups of an idle process holding one Manager (go run ./bench/cmd/idlewake)"
go run ./bench/cmd/idlewake
echo "## One call budget across agents (go run ./bench/cmd/multihost)"
go run ./bench/cmd/multihost
echo
echo "## WebSocket fan-out (go run ./bench/cmd/fanout)"
go run ./bench/cmd/fanout
