package kauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Credentials identify one app at one broker environment. AppSecret is the
// KIS appsecret or the Kiwoom secretkey.
//
// Credentials never reveal the secret or the app key when printed: String,
// GoString, Format and LogValue show the broker, env and the app key's
// fingerprint only.
type Credentials struct {
	Broker    Broker
	Env       Env
	AppKey    string
	AppSecret string
	// Egress names the network egress that the broker sees this app's
	// calls come from (an IP address or any stable name; see ResolveEgress),
	// for a broker that binds a token to the IP that issued it (Kiwoom:
	// 8010; its Provider is an IPBinder). Key folds it in, so that hosts
	// behind different IPs never share a token by mistake, while hosts
	// behind one IP still do. NewManager clears it when the Provider binds
	// no token to an IP, so that every host shares that broker's tokens.
	// Empty means one egress for every host sharing the store.
	Egress string
}

// Validate reports whether c is complete. It checks the broker's name, not
// that kauth knows the broker: the Provider is the broker (the brokers
// package parses and lists the known ones).
func (c Credentials) Validate() error {
	switch {
	case !validName(string(c.Broker)):
		return fmt.Errorf("kauth: bad broker name %q (want lowercase letters, digits and _)", c.Broker)
	case c.Env != Real && c.Env != Mock:
		return fmt.Errorf("kauth: %s: unknown env %q", c.Broker, c.Env)
	case c.AppKey == "":
		return fmt.Errorf("kauth: %s %s: app key is empty", c.Broker, c.Env)
	case c.AppSecret == "":
		return fmt.Errorf("kauth: %s %s: app secret is empty", c.Broker, c.Env)
	}
	return nil
}

// Fingerprint returns a short, stable, non-reversible name for the app key:
// the first 12 hex digits of its SHA-256. It is safe to log and to use in
// file names and metrics.
func (c Credentials) Fingerprint() string { return Fingerprint(c.AppKey) }

// Fingerprint returns the first 12 hex digits of the SHA-256 of s.
func Fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// Key returns the cache key of c: the app key's fingerprint, followed by
// "_e" and the fingerprint of Egress when it is set (see Egress).
func (c Credentials) Key() Key {
	fp := c.Fingerprint()
	if c.Egress != "" {
		fp += "_e" + Fingerprint(c.Egress)
	}
	return Key{Broker: c.Broker, Env: c.Env, Fingerprint: fp}
}

// validName reports whether s can name a broker: lowercase letters, digits
// and _, as every shared store's keys require.
func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

// String implements fmt.Stringer without revealing secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("%s/%s/%s", c.Broker, c.Env, c.Fingerprint())
}

// GoString implements fmt.GoStringer without revealing secrets.
func (c Credentials) GoString() string {
	return fmt.Sprintf("kauth.Credentials{Broker:%q, Env:%q, AppKey:<%s>, AppSecret:<redacted>}",
		c.Broker, c.Env, c.Fingerprint())
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x…) prints the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue implements slog.LogValuer without revealing secrets.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("broker", string(c.Broker)),
		slog.String("env", string(c.Env)),
		slog.String("app", c.Fingerprint()),
	)
}

// Key names the cache entry of one app at one broker environment. It holds
// no secret: the app key appears only as its fingerprint.
type Key struct {
	Broker      Broker
	Env         Env
	Fingerprint string
}

// String returns "broker/env/fingerprint", e.g. "kis/mock/3f2a9c01d4e5".
func (k Key) String() string { return string(k.Broker) + "/" + string(k.Env) + "/" + k.Fingerprint }
