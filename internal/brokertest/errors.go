package brokertest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth"
)

// NoSecrets fails if err, printed in any common way or through the fields
// of a *kauth.Error, holds one of the broker's secrets.
func (b Broker) NoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, secret := range b.Secrets {
			if strings.Contains(s, secret) {
				t.Errorf("error %q reveals a secret", s)
			}
		}
	}
	var e *kauth.Error
	if errors.As(err, &e) {
		for _, secret := range b.Secrets {
			if strings.Contains(e.Code, secret) || strings.Contains(e.Message, secret) {
				t.Errorf("error fields Code=%q Message=%q reveal a secret", e.Code, e.Message)
			}
		}
	}
}

// ErrWant is the *kauth.Error a test expects. An empty Code or Contains
// and a zero Status are not checked; RetryAfter always is.
type ErrWant struct {
	Kind       error
	Code       string
	Status     int
	RetryAfter time.Duration
	Contains   string
}

// CheckError checks that err, the result of name, is a *kauth.Error as
// want describes, for this broker, env and op, without secrets.
func (b Broker) CheckError(t *testing.T, name string, err error, want ErrWant, op string, env kauth.Env) {
	t.Helper()
	b.NoSecrets(t, err)
	if err == nil {
		t.Fatalf("%s = nil error; want %v", name, want.Kind)
	}
	var e *kauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %T %v; want *kauth.Error", name, err, err)
	}
	if !errors.Is(err, want.Kind) {
		t.Errorf("%s = %v; want kind %v", name, err, want.Kind)
	}
	if e.Broker != b.Name || e.Env != env || e.Op != op {
		t.Errorf("%s names %s/%s/%s; want %s/%s/%s", name, e.Broker, e.Env, e.Op, b.Name, env, op)
	}
	if want.Code != "" && e.Code != want.Code {
		t.Errorf("%s Code = %q; want %q", name, e.Code, want.Code)
	}
	if want.Status != 0 && e.StatusCode != want.Status {
		t.Errorf("%s StatusCode = %d; want %d", name, e.StatusCode, want.Status)
	}
	if e.RetryAfter != want.RetryAfter {
		t.Errorf("%s RetryAfter = %v; want %v", name, e.RetryAfter, want.RetryAfter)
	}
	if want.Contains != "" && !strings.Contains(err.Error(), want.Contains) {
		t.Errorf("%s = %q; want it to mention %q", name, err, want.Contains)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("%s = %q; want one line", name, err)
	}
	prefix := "kauth: " + string(b.Name) + " " + string(env) + " " + op + ":"
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s = %q; want prefix %q", name, err, prefix)
	}
}

var kinds = []error{kauth.ErrCredentials, kauth.ErrTokenRejected, kauth.ErrRateLimited, kauth.ErrUnavailable, kauth.ErrBadRequest, kauth.ErrMalformedToken}

// CheckFuzzError asserts that err, if any, is a well-formed *kauth.Error
// of exactly one kind, without secrets.
func (b Broker) CheckFuzzError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	b.NoSecrets(t, err)
	var e *kauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T; want *kauth.Error", err, err)
	}
	n := 0
	for _, k := range kinds {
		if errors.Is(e.Kind, k) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %v has kind %v; want exactly one of the kauth kinds", err, e.Kind)
	}
	if e.RetryAfter < 0 {
		t.Errorf("error %v has RetryAfter %v; want >= 0", err, e.RetryAfter)
	}
}

// Errs collects every error a test produced, to check them for secrets.
type Errs []error

// Add records err and returns it.
func (es *Errs) Add(err error) error {
	*es = append(*es, err)
	return err
}

// CheckNoSecrets fails if any recorded error mentions one of secrets.
func (es Errs) CheckNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	for _, err := range es {
		if err == nil {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q reveals a secret", err)
			}
		}
	}
}
