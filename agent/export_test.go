package agent

// RefuseDial is the check the agent's own transport runs before it
// connects: tests call it without connecting anywhere.
var RefuseDial = func(addr string) error { return refuseDial("tcp", addr, nil) }

// KeeperRestMax is the longest a keeper sleeps while its token is fresh.
const KeeperRestMax = keeperRestMax

// SocketPathOn is SocketPath as it is on goos.
var SocketPathOn = socketPathOn
