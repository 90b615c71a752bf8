package agent

// RefuseDial is the check the agent's own transport runs before it
// connects: tests call it without connecting anywhere.
var RefuseDial = func(addr string) error { return refuseDial("tcp", addr, nil) }

// SocketPathOn is SocketPath as it is on goos.
var SocketPathOn = socketPathOn
