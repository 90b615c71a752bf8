// Package bench holds kauth's benchmarks and load tools. It has no API: the
// benchmarks live in its tests, the load generator in cmd/load, the agent
// scale probe (start-up, memory, idle cost, exit with 1,000 accounts) in
// cmd/agentmem, the idle-wakeup counter in cmd/idlewake, the WebSocket
// fan-out measurement in cmd/fanout and the shared call budget across
// agents in cmd/multihost.
//
// Run them all, as BENCHMARKS.md reports them, with
//
//	make bench        # = ./bench/run.sh
//
// or one at a time:
//
//	go test -run '^$' -bench 'WarmToken' -benchmem -cpu 1,2,4,8 ./bench
//	go test -run '^$' -bench 'ColdStorm|ThirtyDays' -benchtime 1x ./bench
//	go run ./bench/cmd/load
//	go run ./bench/cmd/agentmem
//	go run ./bench/cmd/fanout
//	go run ./bench/cmd/idlewake
//	go run ./bench/cmd/multihost
//
// Everything talks to the in-process simulator (brokersim) or to child
// processes over loopback (127.0.0.1) only.
package bench
