// Package config is the agent's configuration: the Config document read
// from YAML or the environment, the credentials it points to, and the
// checks that turn it into accounts the agent can serve. It knows no
// server: the agent package serves what Resolve returns.
package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
	"github.com/kauth/kauth/internal/private"
	"github.com/kauth/kauth/krx"
	"github.com/kauth/kauth/realtime"
)

// Defaults for Config's zero fields.
const (
	// DefaultMaxBodyBytes bounds a request body (the brokers' requests are
	// small JSON documents).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultShutdownTimeout is how long a graceful shutdown waits for
	// requests in flight.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds the time a client may take to send a
	// request body.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultMaxInFlight bounds the proxied requests of one account in
	// flight at once; past it the agent answers 503 with Retry-After.
	DefaultMaxInFlight = 64
	// DefaultKeepEvery is how often a keeper looks at its account's token.
	// On a fresh token that costs an atomic load.
	DefaultKeepEvery = time.Minute
)

// Config is what the agent serves: its accounts and where it listens. It is
// usually read from a YAML file by Load, built from the environment by
// FromEnv, or made by hand. The zero value of every field but Accounts
// is a sensible default.
type Config struct {
	// Listen says where the agent listens.
	Listen Listen `yaml:"listen"`
	// Accounts are the broker apps the agent serves. Names are unique.
	Accounts []Account `yaml:"accounts"`
	// MaxBodyBytes bounds every request body; a larger one is answered
	// 413. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BodyTimeout bounds the time a client may take to send a request
	// body; a slower one is answered 408. Zero means DefaultBodyTimeout.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxInFlight bounds each account's proxied requests in flight; past
	// it the agent answers 503 with Retry-After rather than queue. Zero
	// means DefaultMaxInFlight.
	MaxInFlight int `yaml:"max_in_flight"`
	// ClientKeys are keys that open only some accounts over TCP, besides
	// the agent key that opens all of them.
	ClientKeys []ClientKey `yaml:"client_keys"`
	// ShutdownTimeout bounds how long shutdown waits for requests in
	// flight. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// RevokeOnShutdown revokes every account's token at the broker when the
	// agent closes. It is off by default because the brokers hand one token
	// to an app key: revoking it breaks every other holder of that token
	// (other agents, the CLI, other hosts sharing the store).
	RevokeOnShutdown bool `yaml:"revoke_on_shutdown"`
	// BudgetShare is the share of each app key's call budget (rate_limit)
	// this agent uses on its own while the budget shared with other agents
	// through Redis cannot be reached: with n agents on one app key, 1/n
	// keeps them under the broker's limit even then. Zero means
	// DefaultBudgetShare. Only used with a Redis store.
	BudgetShare float64 `yaml:"budget_share"`
	// ClientTurns is how many proxied calls of one client may wait for
	// an app key's call budget at once; the client's other calls line up
	// behind them, so that one client flooding the proxy does not make the
	// others wait behind its calls. Clients are told apart by their client
	// key, or else by their connection. Zero means DefaultClientTurns.
	ClientTurns int `yaml:"client_turns"`
	// KRXHolidays is the path of a KRX holiday file (one YYYY-MM-DD a
	// line, or YYYY-MM-DD HH:MM-HH:MM for a day with other hours; see
	// package krx) that replaces the holidays shipped with kauth
	// for the accounts' turnover windows and quiet hours. A relative path is relative to
	// the config file. Empty means $KAUTH_KRX_HOLIDAYS, else the shipped
	// ones.
	KRXHolidays string `yaml:"krx_holidays"`
	// Alerts are webhooks the agent tells of new issuances (and why),
	// rejected credentials, rate-limited issuances, tokens returned again
	// and store failures; see Webhook.
	Alerts []Webhook `yaml:"alerts"`
	// AlertOptions tune the alerts' delivery.
	AlertOptions AlertOptions `yaml:"alert_options"`
}

// Listen says where the agent listens.
type Listen struct {
	// Socket is the path of the unix socket (mode 0600). Empty means
	// DefaultSocketPath; "off" serves no socket.
	Socket string `yaml:"socket"`
	// TCP is a loopback address such as "127.0.0.1:8700" to serve on as
	// well; empty means no TCP. TCP calls must carry the agent key
	// ("Authorization: Bearer <key>"), which the agent writes to KeyFile.
	TCP string `yaml:"tcp"`
	// KeyFile is where the agent key is kept (mode 0600). Empty means
	// DefaultKeyFile.
	KeyFile string `yaml:"key_file"`
	// AllowNonLoopback permits a TCP address that is not a loopback one.
	// Anyone who can reach it and holds the key can use the accounts.
	AllowNonLoopback bool `yaml:"allow_non_loopback"`
	// AllowedHosts are Host header names accepted besides localhost,
	// 127.0.0.1 and [::1] (needed when clients reach a non-loopback
	// address by name). Everything else is refused, against DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AdvertiseAddr is the host:port where the other agents on a shared
	// Redis store reach this one's relay of a real-time session it holds.
	// Empty means the TCP address (TCP), which suits hosts that reach each
	// other at it; set it behind NAT or in a container.
	AdvertiseAddr string `yaml:"advertise_addr"`
}

// ClientKey is a key that lets a bot use some accounts only, over TCP.
// The agent key (Listen.KeyFile) still opens every account.
type ClientKey struct {
	// Name identifies the key in logs and errors; empty means the file's
	// base name.
	Name string `yaml:"name"`
	// File holds the key (mode 0600). A missing file is created with a new
	// random key, as for the agent key; to rotate a key, delete or replace
	// its file and send SIGHUP. A relative path is relative to the config
	// file; a leading "~/" is the home directory.
	File string `yaml:"file"`
	// Accounts are the names of the accounts the key may use: their
	// token, their proxy and their invalidate reports. Every other
	// account, and /metrics, answers 403.
	Accounts []string `yaml:"accounts"`
}

// Error is a configuration the agent refuses: a setting out of
// range, a credential or key file it will not read, a broker address it
// will not call. kauth serve exits 2 on it. Each line of its message names
// the field.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// SocketOff is the Listen.Socket value that serves no unix socket.
const SocketOff = "off"

// Account is one broker app the agent serves under a name.
type Account struct {
	// Name identifies the account in the API: /v1/accounts/{name}/token,
	// /proxy/{name}/…. Lower-case letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Broker is one of the listed brokers (aliases as brokers.Parse accepts).
	Broker kauth.Broker `yaml:"broker"`
	// Env is real or mock (aliases as kauth.ParseEnv accepts: prod, paper,
	// vts…).
	Env kauth.Env `yaml:"env"`
	// AppKey and AppSecret say where the credentials come from. AppSecret
	// is the KIS appsecret or the Kiwoom secretkey.
	AppKey    Secret `yaml:"appkey"`
	AppSecret Secret `yaml:"appsecret"`
	// BaseURL overrides the broker's domain (a proxy, the simulator). Empty
	// means $KIS_BASE_URL or $KIWOOM_BASE_URL, else the broker's published
	// domain for Env.
	BaseURL string `yaml:"base_url"`
	// RateLimit is how many proxied calls per second this app key may make.
	// Zero means DefaultRateLimit(Broker, Env).
	RateLimit float64 `yaml:"rate_limit"`
	// Burst is how many calls may go at once after a quiet spell. Zero
	// means 1, which keeps any one-second window under RateLimit+1 calls.
	Burst int `yaml:"burst"`
	// Revoke says what the broker facade (/broker/{key}/{name}) does with
	// a client's revoke call: RevokeAnswer (the default, "answer") answers
	// the broker's success shape and keeps the token every other holder
	// shares; RevokePass ("pass") revokes it at the broker.
	Revoke string `yaml:"revoke"`
	// Egress names the network egress the broker sees this agent's calls
	// come from: "auto" (the local address that routes to the broker), a
	// name of your own (the same on every host behind one IP, e.g. the
	// public IP), or empty (one egress for every host). A broker that binds
	// a token to the IP that issued it (Kiwoom, 8010) keeps one entry per
	// egress in a shared store, so that hosts behind different IPs never
	// share its token. The environment-only mode reads KAUTH_EGRESS.
	Egress string `yaml:"egress"`
	// WSClientMaxSubscriptions is how many real-time topics one local
	// WebSocket client may hold through the gateway, so that no bot takes
	// every slot of the app key's one upstream session. Zero means
	// DefaultWSClientMaxSubscriptions(Broker).
	WSClientMaxSubscriptions int `yaml:"ws_client_max_subscriptions"`
	// WSControlRate is how many subscribe and unsubscribe frames per second
	// the gateway sends the broker on the app key's session, whatever its
	// clients send; the rest wait their turn, and a subscription undone
	// before its release went upstream costs nothing. Zero means
	// realtime.DefaultControlRate.
	WSControlRate float64 `yaml:"ws_control_rate"`
	// FacadeAddr, if set, is a loopback address ("127.0.0.1:PORT") where
	// the agent serves this account alone as its broker does at the root
	// of its domain, REST and WebSocket on the one port, for clients that
	// build URLs with absolute paths and so cannot use the
	// /broker/{key}/{name} facade. Each account has its own port. It takes
	// effect when the agent starts listening.
	FacadeAddr string `yaml:"facade_addr"`
	// Turnover, if set, is a window of the day ("07:30-08:30", KST) in
	// which the agent replaces a token that would otherwise be refreshed
	// during a KRX trading session, so that the broker's alert and any
	// failure to issue come before the market opens (kauth.Turnover).
	// Empty: tokens are refreshed when they must be.
	Turnover string `yaml:"turnover"`
	// WSQuietOffHours makes the WebSocket gateway reconnect this account's
	// upstream session quietly outside KRX trading hours (from 30 minutes
	// before a session opens to its close): a longer backoff, a log line
	// at Info, and no "unavailable" message to local clients. Inside them
	// it reconnects promptly and tells its clients, as it always does.
	WSQuietOffHours bool `yaml:"ws_quiet_off_hours"`
}

// The values of Account.Revoke.
const (
	RevokeAnswer = "answer"
	RevokePass   = "pass"
)

// Secret says where one credential comes from: an environment variable, or
// a file readable by its owner only. Exactly one of Env, File and Value is
// set.
type Secret struct {
	// Env names the environment variable that holds the value.
	Env string `yaml:"env"`
	// File is the path of a file holding the value (surrounding white space
	// is trimmed). The file must not be readable or writable by group or
	// others (mode 0600 or 0400). A leading "~/" is the home directory; a
	// relative path is relative to the config file.
	File string `yaml:"file"`
	// Value is the credential itself. Only programs can set it (the
	// simulator's demo apps use it): a config file cannot, so that secrets
	// never sit in one.
	Value string `yaml:"-"`
}

// UnmarshalYAML refuses a credential written into the config as a plain
// value: a config file is copied, shared and committed, so it says where
// the credential is ({env: NAME} or {file: PATH}), never what it is. The
// value itself never reaches an error message.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // not given: resolve says which credential is missing
	}
	if n.Kind != yaml.MappingNode {
		return &plainSecretError{line: n.Line}
	}
	// Decoded by hand: a Node's Decode does not keep the decoder's
	// KnownFields, and an unknown field here ({value: …}) must fail.
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "env":
			dst = &s.Env
		case "file":
			dst = &s.File
		default:
			errs = append(errs, fmt.Sprintf("line %d: unknown field %q in a credential (want env or file)", k.Line, k.Value))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Sprintf("line %d: %s wants a name, not a list or map", v.Line, k.Value))
			continue
		}
		*dst = v.Value
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// plainSecretError is a credential given as a plain value at line.
type plainSecretError struct{ line int }

func (e *plainSecretError) Error() string {
	return fmt.Sprintf("line %d: a credential is written in the config; give it as {env: NAME} (an environment variable) or {file: PATH} (a file of mode 0600), so that the file holds no secret", e.line)
}

// explain names the field of e from the config's text: "line 7: appkey is
// written in the config; …".
func (e *plainSecretError) explain(data []byte) error {
	lines := strings.Split(string(data), "\n")
	if e.line < 1 || e.line > len(lines) {
		return e
	}
	field, _, ok := strings.Cut(strings.TrimLeft(strings.TrimSpace(lines[e.line-1]), "- "), ":")
	if !ok || !nameRE().MatchString(field) {
		return e
	}
	return fmt.Errorf("line %d: %s is written in the config; give it as {env: NAME} (an environment variable) or {file: PATH} (a file of mode 0600), so that the file holds no secret", e.line, field)
}

// MaxWSControlRate bounds Account.WSControlRate.
const MaxWSControlRate = 100

// Bounds of Account.RateLimit and Account.Burst.
const (
	MinRateLimit = 0.01 // one call every 100 s
	MaxRateLimit = 1000
	MaxBurst     = 1000
)

// DefaultRateLimit returns the proxied calls per second allowed by default
// for one app key of p's broker: 90% of the broker's published limit, since
// the brokers count calls in a sliding second and a request's network
// latency varies — at exactly the limit, a queue that is always full trips
// it. It is what the Provider says (its DefaultRateLimit method); a broker
// that says nothing gets 1.
func DefaultRateLimit(p kauth.Provider, e kauth.Env) float64 {
	if rl, ok := p.(rateLimiter); ok {
		return rl.DefaultRateLimit(e)
	}
	return 1
}

// rateLimiter gives the default proxied calls per second for one app key
// at env: 90% of the broker's published limit.
type rateLimiter interface {
	DefaultRateLimit(env kauth.Env) float64
}

// DefaultWSClientMax returns how many topics one local WebSocket client
// may hold by default on p's broker: half of what the broker allows one
// session (its real-time protocol's Limits), so that one bot always leaves
// room for others. A broker with no real-time protocol gets 0.
func DefaultWSClientMax(p kauth.Provider) int {
	rb, ok := p.(interface{ Realtime() realtime.Protocol })
	if !ok {
		return 0
	}
	proto, ok := rb.Realtime().(realtime.ClientProtocol)
	if !ok {
		return 0
	}
	n, _, _ := proto.Limits(0)
	return n / 2
}

// MaxSize bounds what Load reads of a config file, so that a path such as
// /dev/zero is not read without end. A config is a few kilobytes, but one
// account takes about 200 bytes (name, broker, env, base_url and two
// credential references), so 10,000 accounts are about 2 MiB: 8 MiB leaves
// room for 40,000 such accounts, and parsing it takes tens of MiB.
const MaxSize = 8 << 20

// Load reads a YAML config file of at most MaxSize bytes.
// Unknown fields are an error that names their line, so a misspelt
// setting is never silently ignored. Relative credential file paths are
// resolved against the file's directory.
func Load(path string) (Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("agent: config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if f := cfg.KRXHolidays; f != "" && !strings.HasPrefix(f, "~/") && !filepath.IsAbs(f) {
		cfg.KRXHolidays = filepath.Join(dir, f)
	}
	for i := range cfg.ClientKeys {
		if f := cfg.ClientKeys[i].File; f != "" && !strings.HasPrefix(f, "~/") && !filepath.IsAbs(f) {
			cfg.ClientKeys[i].File = filepath.Join(dir, f)
		}
	}
	for i := range cfg.Alerts {
		for _, s := range []*Secret{&cfg.Alerts[i].URLSecret, &cfg.Alerts[i].BotToken} {
			if s.File != "" && !strings.HasPrefix(s.File, "~/") && !filepath.IsAbs(s.File) {
				s.File = filepath.Join(dir, s.File)
			}
		}
	}
	for i := range cfg.Accounts {
		for _, s := range []*Secret{&cfg.Accounts[i].AppKey, &cfg.Accounts[i].AppSecret} {
			if s.File != "" && !strings.HasPrefix(s.File, "~/") && !filepath.IsAbs(s.File) {
				s.File = filepath.Join(dir, s.File)
			}
		}
	}
	return cfg, nil
}

// readConfigFile reads path, refusing one over MaxSize rather than
// reading a part of it (or, for a device or a pipe, reading on without
// end).
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent: reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("agent: reading config %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("agent: config %s is over %d MiB, the most a config file may hold", path, MaxSize>>20)
	}
	return data, nil
}

// Parse parses a YAML config document strictly: unknown fields and
// trailing documents are errors. It does not validate the values; New does.
func Parse(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("empty config: list at least one account under accounts:")
		}
		var pe *plainSecretError
		if errors.As(err, &pe) {
			return Config{}, pe.explain(data)
		}
		return Config{}, oneLineYAMLError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("more than one YAML document; put everything in one")
	}
	return cfg, nil
}

// FromEnv builds a config from the environment, the same variables the CLI
// reads: KIS_APPKEY and KIS_APPSECRET make KIS accounts, KIWOOM_APPKEY and
// KIWOOM_SECRETKEY make Kiwoom accounts, with KIS_BASE_URL and
// KIWOOM_BASE_URL as their base URLs.
//
// Which environments each broker is served for comes from KIS_ENV and
// KIWOOM_ENV, else KAUTH_ENV, else real: a comma-separated list such as
// "mock" or "real,mock" (aliases as kauth.ParseEnv accepts). Accounts are
// named "<broker>-<env>": kis-real, kis-mock, kiwoom-real, kiwoom-mock.
// Credentials are referenced by variable name, so the config holds no
// secret. KAUTH_EGRESS and KAUTH_TURNOVER, if set, are every account's
// egress and turnover window (KAUTH_KRX_HOLIDAYS its holiday file). FromEnv
// fails if no broker's credentials are set.
func FromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var cfg Config
	var errs []error
	var want []string
	for _, spec := range brokers.All() {
		b := struct {
			broker              kauth.Broker
			key, secret, envVar string
		}{spec.Name, spec.KeyVar, spec.SecretVar, spec.EnvVar}
		want = append(want, b.key+" and "+b.secret)
		if getenv(b.key) == "" && getenv(b.secret) == "" {
			continue
		}
		envs := getenv(b.envVar)
		if envs == "" {
			envs = getenv("KAUTH_ENV")
		}
		if envs == "" {
			envs = string(kauth.Real)
		}
		seen := map[kauth.Env]bool{}
		for _, s := range strings.Split(envs, ",") {
			e, err := kauth.ParseEnv(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("agent: %s: %w", b.envVar, err))
				continue
			}
			if seen[e] {
				continue
			}
			seen[e] = true
			cfg.Accounts = append(cfg.Accounts, Account{
				Name:      string(b.broker) + "-" + string(e),
				Broker:    b.broker,
				Env:       e,
				AppKey:    Secret{Env: b.key},
				AppSecret: Secret{Env: b.secret},
				Egress:    strings.TrimSpace(getenv("KAUTH_EGRESS")),
				Turnover:  strings.TrimSpace(getenv("KAUTH_TURNOVER")),
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if len(cfg.Accounts) == 0 {
		return Config{}, errors.New("agent: no accounts: set " + strings.Join(want, ", or ") + ", or pass a config file")
	}
	return cfg, nil
}

// The patterns are compiled at their first use, not at start-up: every
// kauth command links this package.
var unknownFieldRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`field (\S+) not found in type \S+`) })

// oneLineYAMLError turns the YAML decoder's multi-line report into one
// line, as every kauth error is: "line 7: unknown field "app_secret"; …".
func oneLineYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		msgs[i] = unknownFieldRE().ReplaceAllString(strings.TrimSpace(e), `unknown field "$1"`)
	}
	return errors.New(strings.Join(msgs, "; "))
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// Resolved is an account with its credentials read and its settings
// normalized: every zero setting replaced by its default.
type Resolved struct {
	Account
	// Creds are the account's credentials, read from where the Account
	// says.
	Creds kauth.Credentials
	// BaseURL is the broker's domain for the account, without a trailing
	// slash.
	BaseURL string
	// Turnover is the account's turnover window, nil if none.
	Turnover *kauth.Turnover
	// Calendar is the KRX calendar of the account's turnover window and
	// quiet hours; nil if it has neither.
	Calendar *krx.Calendar
}

// Resolve validates cfg against the brokers of list and reads every
// account's credentials through getenv and the credential files. It reports
// every problem at once, each naming its account.
func Resolve(cfg Config, getenv func(string) string, list []kauth.BrokerSpec) ([]Resolved, error) {
	var errs []error
	if len(cfg.Accounts) == 0 {
		errs = append(errs, errors.New("agent: no accounts configured"))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("agent: max_body_bytes must not be negative"))
	}
	if cfg.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("agent: shutdown_timeout must not be negative"))
	}
	if cfg.BodyTimeout < 0 {
		errs = append(errs, errors.New("agent: body_timeout must not be negative"))
	}
	if cfg.MaxInFlight < 0 {
		errs = append(errs, errors.New("agent: max_in_flight must not be negative"))
	}
	if cfg.ClientTurns < 0 {
		errs = append(errs, errors.New("agent: client_turns must not be negative"))
	}
	if b := cfg.BudgetShare; b != 0 && !(b > 0 && b <= 1) {
		errs = append(errs, fmt.Errorf("agent: budget_share %v: want a share of the budget in (0, 1]", b))
	}
	if err := CheckTCPAddr(cfg.Listen.TCP, cfg.Listen.AllowNonLoopback); err != nil {
		errs = append(errs, err)
	}
	if err := CheckSocketPath(cfg.Listen.Socket); err != nil {
		errs = append(errs, err)
	}
	if a := cfg.Listen.AdvertiseAddr; a != "" {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" || strings.ContainsAny(a, " /") {
			errs = append(errs, fmt.Errorf("agent: listen.advertise_addr %q: want host:port where the other agents reach this one", a))
		}
	}
	errs = append(errs, CheckFacadeAddrs(cfg)...)
	cal, err := calendar(cfg, getenv)
	if err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	out := make([]Resolved, 0, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		r, err := resolveAccount(a, getenv, list)
		if err != nil {
			name := a.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			errs = append(errs, fmt.Errorf("agent: account %s: %w", name, err))
			continue
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("agent: account %s: name used twice", r.Name))
			continue
		}
		seen[r.Name] = true
		if a.Turnover != "" || a.WSQuietOffHours {
			r.Calendar = cal
		}
		if a.Turnover != "" {
			from, to, err := krx.ParseWindow(a.Turnover)
			if err != nil {
				errs = append(errs, fmt.Errorf("agent: account %s: turnover: %w", r.Name, err))
				continue
			}
			if cal != nil {
				r.Turnover = &kauth.Turnover{From: from, To: to, Calendar: cal}
			}
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &Error{err}
	}
	return out, nil
}

// calendar reads the KRX holidays the accounts' turnover windows and quiet
// hours use, if any account has either.
func calendar(cfg Config, getenv func(string) string) (*krx.Calendar, error) {
	if !slices.ContainsFunc(cfg.Accounts, func(a Account) bool { return a.Turnover != "" || a.WSQuietOffHours }) {
		return nil, nil
	}
	path := cfg.KRXHolidays
	if path == "" {
		path = getenv(krx.HolidaysEnv)
	}
	if path == "" {
		return krx.Default(), nil
	}
	path, err := ExpandHome(path)
	if err != nil {
		return nil, fmt.Errorf("agent: krx_holidays: %w", err)
	}
	cal, err := krx.Load(path)
	if err != nil {
		return nil, fmt.Errorf("agent: krx_holidays: %w", err)
	}
	return cal, nil
}

// parseBroker finds the broker named s (its name or an alias, in any case)
// in list.
func parseBroker(list []kauth.BrokerSpec, s string) (kauth.BrokerSpec, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	var names []string
	for _, spec := range list {
		if name == string(spec.Name) || slices.Contains(spec.Aliases, name) {
			return spec, nil
		}
		names = append(names, string(spec.Name))
	}
	return kauth.BrokerSpec{}, fmt.Errorf("kauth: unknown broker %q (want %s)", s, strings.Join(names, ", "))
}

func resolveAccount(a Account, getenv func(string) string, list []kauth.BrokerSpec) (Resolved, error) {
	r := Resolved{Account: a}
	if !nameRE().MatchString(a.Name) {
		return r, fmt.Errorf("name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", a.Name)
	}
	spec, err := parseBroker(list, string(a.Broker))
	if err != nil {
		return r, err
	}
	b := spec.Name
	e, err := kauth.ParseEnv(string(a.Env))
	if err != nil {
		return r, err
	}
	r.Broker, r.Env = b, e
	if e == kauth.Mock && spec.MockURL == "" {
		return r, fmt.Errorf("%s has no paper-trading (mock) environment: use env real", spec.Display)
	}
	secretName := "appsecret"
	if spec.SecretName != "" && spec.SecretName != secretName {
		secretName = "appsecret (the " + string(b) + " " + spec.SecretName + ")"
	}
	key, err := a.AppKey.read(getenv)
	if err != nil {
		return r, fmt.Errorf("appkey: %w", err)
	}
	secret, err := a.AppSecret.read(getenv)
	if err != nil {
		return r, fmt.Errorf("%s: %w", secretName, err)
	}
	r.Creds = kauth.Credentials{Broker: b, Env: e, AppKey: key, AppSecret: secret}
	if err := r.Creds.Validate(); err != nil {
		return r, err
	}
	// NaN passes every comparison (no limit at all: the broker's EGW00201
	// for everyone), +Inf is no limit, and a tiny positive limit makes every
	// call after the first wait for ages.
	if r.RateLimit < 0 || r.Burst < 0 {
		return r, errors.New("rate_limit and burst must not be negative")
	}
	if math.IsNaN(r.RateLimit) || math.IsInf(r.RateLimit, 0) ||
		(r.RateLimit != 0 && (r.RateLimit < MinRateLimit || r.RateLimit > MaxRateLimit)) {
		return r, fmt.Errorf("rate_limit %v: want calls per second between %v and %v (0 or unset: the broker's default)", r.RateLimit, MinRateLimit, MaxRateLimit)
	}
	if r.Burst > MaxBurst {
		return r, fmt.Errorf("burst %d: want 0 to %d", r.Burst, MaxBurst)
	}
	if r.RateLimit == 0 {
		r.RateLimit = DefaultRateLimit(spec.New("", nil, nil), e)
	}
	if r.Burst == 0 {
		r.Burst = 1
	}
	if r.WSClientMaxSubscriptions < 0 {
		return r, fmt.Errorf("ws_client_max_subscriptions %d: must not be negative (0 or unset: %d)", r.WSClientMaxSubscriptions, DefaultWSClientMax(spec.New("", nil, nil)))
	}
	if r.WSClientMaxSubscriptions == 0 {
		r.WSClientMaxSubscriptions = DefaultWSClientMax(spec.New("", nil, nil))
	}
	if math.IsNaN(r.WSControlRate) || r.WSControlRate < 0 || r.WSControlRate > MaxWSControlRate {
		return r, fmt.Errorf("ws_control_rate %v: want frames per second between 0 and %v (0 or unset: %v)", r.WSControlRate, MaxWSControlRate, realtime.DefaultControlRate)
	}
	switch r.Revoke = strings.ToLower(strings.TrimSpace(r.Revoke)); r.Revoke {
	case "":
		r.Revoke = RevokeAnswer
	case RevokeAnswer, RevokePass:
	default:
		return r, fmt.Errorf("revoke %q: want answer or pass", a.Revoke)
	}
	r.BaseURL = strings.TrimSpace(a.BaseURL)
	if r.BaseURL == "" {
		// Read through getenv rather than letting the provider read
		// os.Getenv, so that Options.Getenv decides everything.
		r.BaseURL = getenv(spec.BaseURLVar)
		if r.BaseURL == "" {
			r.BaseURL = spec.URL(e)
		}
	}
	r.BaseURL = strings.TrimRight(strings.TrimSpace(r.BaseURL), "/")
	u, err := url.Parse(r.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, fmt.Errorf("base_url %q: want an absolute http(s) URL", r.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return r, fmt.Errorf("base_url %q: no user info, query or fragment", r.BaseURL)
	}
	if err := checkBrokerHost(u); err != nil {
		return r, fmt.Errorf("base_url %q: %w", r.BaseURL, err)
	}
	if a.Egress != "" && kauth.BindsTokenToIP(brokers.MustGet(b).New(r.BaseURL, nil, nil)) {
		// Only a broker that binds tokens to the issuing IP keys its
		// entries by egress; every host shares the others' tokens.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if r.Creds.Egress, err = kauth.ResolveEgress(ctx, a.Egress, r.BaseURL); err != nil {
			return r, fmt.Errorf("egress: %w", err)
		}
	}
	return r, nil
}

// read returns the credential. Its errors name the variable or file, never
// the value.
func (s Secret) read(getenv func(string) string) (string, error) {
	n := 0
	for _, set := range []bool{s.Env != "", s.File != "", s.Value != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return "", errors.New("missing: set env (a variable name) or file (a 0600 file)")
	case n > 1:
		return "", errors.New("set only one of env and file")
	case s.Value != "":
		return s.Value, nil
	case s.Env != "":
		v := strings.TrimSpace(getenv(s.Env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", s.Env)
		}
		return v, nil
	}
	path, err := ExpandHome(s.File)
	if err != nil {
		return "", err
	}
	return readSecretFile(path)
}

// maxSecretFile bounds a credential file.
const maxSecretFile = 64 << 10

// readSecretFile reads a credential file, refusing one that group or others
// could read or write, one that is not a regular file (a FIFO would block
// the agent's start forever, a device could be endless), a kernel file
// such as /proc/self/environ (which holds the whole environment), and one
// over 64 KiB rather than read a part of it.
func readSecretFile(path string) (string, error) {
	// Look before opening: opening a FIFO blocks until a writer comes.
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading credential file: %w", err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("reading credential file: %w", err)
	}
	if abs, err := filepath.Abs(real); err == nil {
		for _, dir := range []string{"/proc", "/sys", "/dev"} {
			if abs == dir || strings.HasPrefix(abs, dir+"/") {
				return "", fmt.Errorf("credential file %s is under %s, not a file of yours; put the credential in a 0600 file", path, dir)
			}
		}
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("credential file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if exp, err := private.Check(path, fi); err != nil {
		return "", fmt.Errorf("reading credential file: %w", err)
	} else if exp != nil {
		return "", fmt.Errorf("credential file %s is %s, readable by others; make it private to its owner: %s", path, exp.Who, exp.Fix)
	}
	if fi.Size() > maxSecretFile {
		return "", fmt.Errorf("credential file %s is %d bytes, over the 64 KiB a credential may have", path, fi.Size())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("reading credential file: %w", err)
	}
	defer f.Close()
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		return "", fmt.Errorf("credential file %s changed while being read", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("reading credential file %s: %w", path, err)
	}
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("credential file %s is over the 64 KiB a credential may have", path)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("credential file %s is empty", path)
	}
	return v, nil
}

// checkBrokerHost refuses a broker address the agent must not call: the
// link-local range, where cloud metadata services live (169.254.169.254
// hands out the machine's own credentials, and the keeper would call it
// at once, with the app secret), unspecified and multicast addresses, the
// metadata services' names, and plain http to anything but loopback, where
// the app secret and tokens would cross the network in clear.
func checkBrokerHost(u *url.URL) error {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if !AllowedBrokerIP(ip) {
			return fmt.Errorf("%s is a link-local, metadata, unspecified or multicast address", host)
		}
	}
	switch host {
	case "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal":
		return fmt.Errorf("%s is a cloud metadata service", host)
	}
	if u.Scheme == "http" && !IsLoopbackHost(host) {
		return errors.New("plain http only to loopback (the simulator, a local proxy); use https")
	}
	return nil
}

// AllowedBrokerIP reports whether the agent may call ip.
func AllowedBrokerIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !(ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip == netip.MustParseAddr("fd00:ec2::254"))
}

// ExpandHome returns p with a leading "~/" replaced by the home directory.
func ExpandHome(p string) (string, error) {
	if !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding %s: %w", p, err)
	}
	return filepath.Join(home, p[2:]), nil
}

// CheckTCPAddr refuses a TCP address that net.Listen could not take as
// written — not HOST:PORT, a port that is not a number from 0 to 65535, a
// host that is neither an IP address nor a host name (a URL such as
// file:///etc/passwd) — and one that is not loopback, unless allowed.
func CheckTCPAddr(addr string, allowNonLoopback bool) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("agent: listen tcp %q: want HOST:PORT, such as 127.0.0.1:8700", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("agent: listen tcp %q: the port must be a number from 0 to 65535", addr)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && (len(host) > 253 || !hostName().MatchString(host)) {
		return fmt.Errorf("agent: listen tcp %q: %q is neither an IP address nor a host name", addr, host)
	}
	if IsLoopbackHost(host) || allowNonLoopback {
		return nil
	}
	return fmt.Errorf("agent: listen tcp %q is not a loopback address; use 127.0.0.1:PORT, or set allow_non_loopback: true to expose the accounts to the network", addr)
}

// hostName matches a DNS host name: dot-separated labels of letters,
// digits, '-' and '_', at most 253 bytes. Compiled at its first use: its
// bounded repeats make it the costliest pattern to compile (about 1,200
// allocations).
var hostName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$`)
})

// maxSocketPath is the longest path a unix socket address holds: the
// sun_path array less its terminating NUL (107 bytes on Linux, 103 on
// the BSDs and macOS).
const maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// CheckSocketPath refuses a socket path longer than a unix socket address
// holds, which bind would refuse with "invalid argument".
func CheckSocketPath(path string) error {
	if path == SocketOff || len(path) <= maxSocketPath {
		return nil
	}
	return fmt.Errorf("agent: listen socket %q is %d bytes long; a unix socket path holds at most %d: choose a shorter path", path, len(path), maxSocketPath)
}

// IsLoopbackHost reports whether host names the loopback interface.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
