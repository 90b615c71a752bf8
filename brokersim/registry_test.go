package brokersim

// The simulator serves the brokers registered with kauth; the registry
// registers them all.
import _ "github.com/kauth/kauth/brokers"
