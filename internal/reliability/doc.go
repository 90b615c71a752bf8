// Package reliability holds kauth's reliability suite and the harness it
// shares with the benchmarks in bench/: a simulator rig, a virtual clock
// driven by the simulator, the child-process protocol of the multi-process
// tests, and the thirty-day scenario.
//
// The tests (go test ./internal/reliability/...) prove, against brokersim:
//
//   - faults (5xx bursts, hangs, resets, malformed and HTML bodies,
//     rate-limit storms, tokens revoked behind the Manager's back, clock
//     jumps) under concurrent load end for every caller in a valid token or
//     a typed error within its deadline, with a bounded number of upstream
//     calls and no leaked goroutine;
//   - cold-start storms issue once, across goroutines and across processes
//     on the file store and on Redis;
//   - a process whose clock runs ahead (KAUTH_REL_OFFSET, test binaries
//     only) delays another process's issuance by one spacing at most;
//   - thirty virtual days with a restart every ten minutes issue at most
//     once per validity period and never trip the issuance rate limit;
//   - processes killed with SIGKILL at random points of a refresh never
//     leave a corrupt cache file, and never make the broker mint a token
//     before the one it replaces is due for refresh, unless a kill lost
//     that one before it was stored and no one asked for it again within
//     the broker's same-token window;
//   - the fault harness (TestFaultHarness): three agent processes (clocks
//     right, 5 min ahead, 1 s behind) and runs of the real kauth binary
//     share one Redis, each through a TCP proxy (internal/tcpproxy) that
//     the test cuts, stalls or delays; rounds revoke tokens with kauth
//     revoke, run kauth token on a broken path and SIGKILL the agent that
//     holds the issuance lock. No agent serves a revoked token 2 s after
//     its connection is back, every caller is answered by its deadline,
//     after each round every agent and the store hold the broker's token,
//     and the broker mints at most one token per revoke. Its file-store
//     variant (TestFaultHarnessFullStore, root only: it mounts a 512 KiB
//     tmpfs) fills the disk under kauth revoke and kauth token;
//   - no secret or whole token appears in any output, log or cache file of
//     the CLI and the agent, files and sockets are private, and the agent
//     refuses unauthenticated, cross-origin and foreign-Host calls.
//
// The default run takes about a minute. KAUTH_LONG=1 (as CI runs it) takes
// the thirty virtual days instead of seven, 200 crash rounds instead of 20,
// a 30 s chaos run instead of 1.5 s and the fault tests at 200 callers
// instead of 50. The soak,
//
//	KAUTH_SOAK=1 go test -race ./internal/reliability/... -timeout 30m
//
// runs those and a six-minute fault harness; CI sets both switches (see
// Soak). A call under fault may end past its deadline by a
// slack plus what the process's own scheduling delay, measured while it
// ran, explains; a token answer that arrives after the attempt timeout is
// counted as the request and the issuance its retry may cost (Rig.Lost).
// Redis tests use db 15 of 127.0.0.1:6379 unless KAUTH_TEST_REDIS says
// otherwise (see internal/testredis);
// without a reachable Redis they skip, except under CI=true, where they
// fail.
package reliability
