package agent

import (
	"github.com/kauth/kauth"
	"github.com/kauth/kauth/agent/internal/config"
)

// The agent's configuration lives in agent/internal/config; these names
// are its public face.

// Defaults for Config's zero fields.
const (
	// DefaultMaxBodyBytes bounds a request body (the brokers' requests are
	// small JSON documents).
	DefaultMaxBodyBytes = config.DefaultMaxBodyBytes
	// DefaultShutdownTimeout is how long a graceful shutdown waits for
	// requests in flight.
	DefaultShutdownTimeout = config.DefaultShutdownTimeout
	// DefaultBodyTimeout bounds the time a client may take to send a
	// request body.
	DefaultBodyTimeout = config.DefaultBodyTimeout
	// DefaultMaxInFlight bounds the proxied requests of one account in
	// flight at once; past it the agent answers 503 with Retry-After.
	DefaultMaxInFlight = config.DefaultMaxInFlight
	// DefaultKeepEvery is how often a keeper looks at its account's token.
	DefaultKeepEvery = config.DefaultKeepEvery
)

// Config is what the agent serves: its accounts and where it listens. It is
// usually read from a YAML file by LoadConfig, built from the environment by
// FromEnv, or made by hand. The zero value of every field but Accounts
// is a sensible default.
type Config = config.Config

// Listen says where the agent listens.
type Listen = config.Listen

// Account is one broker app the agent serves under a name.
type Account = config.Account

// Secret says where one credential comes from: an environment variable, or
// a file readable by its owner only. A config file cannot hold the value
// itself.
type Secret = config.Secret

// ClientKey is a key that lets a bot use some accounts only, over TCP.
type ClientKey = config.ClientKey

// ConfigError is a configuration the agent refuses: a setting out of
// range, a credential or key file it will not read, a broker address it
// will not call. kauth serve exits 2 on it.
type ConfigError = config.Error

// SocketOff is the Listen.Socket value that serves no unix socket.
const SocketOff = config.SocketOff

// The values of Account.Revoke.
const (
	RevokeAnswer = config.RevokeAnswer
	RevokePass   = config.RevokePass
)

// MaxWSControlRate bounds Account.WSControlRate.
const MaxWSControlRate = config.MaxWSControlRate

// Bounds of Account.RateLimit and Account.Burst.
const (
	MinRateLimit = config.MinRateLimit
	MaxRateLimit = config.MaxRateLimit
	MaxBurst     = config.MaxBurst
)

// MaxConfigSize bounds what LoadConfig reads of a config file.
const MaxConfigSize = config.MaxSize

// DefaultRateLimit returns the proxied calls per second allowed by default
// for one app key: 90% of the broker's published limit. KIS real 18 (of
// 20), KIS mock 1.8 (of 2), Kiwoom 4.5 (of 5): what each broker's Provider
// says (its DefaultRateLimit method). A broker that says nothing gets 1.
func DefaultRateLimit(b kauth.Broker, e kauth.Env) float64 {
	return config.DefaultRateLimit(providerOf(b), e)
}

// LoadConfig reads a YAML config file of at most MaxConfigSize bytes.
// Unknown fields are an error that names their line, so a misspelt
// setting is never silently ignored. Relative credential file paths are
// resolved against the file's directory.
func LoadConfig(path string) (Config, error) { return config.Load(path) }

// ParseConfig parses a YAML config document strictly: unknown fields and
// trailing documents are errors. It does not validate the values; New does.
func ParseConfig(data []byte) (Config, error) { return config.Parse(data) }

// FromEnv builds a config from the environment, the same variables the CLI
// reads (see config.FromEnv): KIS_APPKEY and KIS_APPSECRET make KIS
// accounts, KIWOOM_APPKEY and KIWOOM_SECRETKEY make Kiwoom accounts, and so
// on for every listed broker; KIS_ENV, KIWOOM_ENV… or else KAUTH_ENV say
// which environments. FromEnv fails if no broker's credentials are set.
func FromEnv(getenv func(string) string) (Config, error) { return config.FromEnv(getenv) }
