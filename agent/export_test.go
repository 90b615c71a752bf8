package agent

import "testing"

// RefuseDial is the check the agent's own transport runs before it
// connects: tests call it without connecting anywhere.
var RefuseDial = func(addr string) error { return refuseDial("tcp", addr, nil) }

// KeeperRestMax is the longest a keeper sleeps while its token is fresh.
const KeeperRestMax = keeperRestMax

// SocketPathOn is SocketPath as it is on goos.
var SocketPathOn = socketPathOn

// SnapshotNames lists the accounts as the API, /readyz and the metrics
// walk them, and how many allocations taking that list costs.
func SnapshotNames(a *Agent) (names []string, allocs float64) {
	for _, acct := range a.snapshot() {
		names = append(names, acct.name)
	}
	return names, testing.AllocsPerRun(100, func() { a.snapshot() })
}
