package ls_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/igw/igwtest"
	"github.com/kauth/kauth/ls"
)

// TestProvider runs the conformance suite every broker passes, with the
// gateway's facts and LS's domain, variable and t1102 call.
func TestProvider(t *testing.T) {
	brokertest.Run(t, igwtest.Facts(igwtest.Broker{
		Name: ls.Broker, URL: ls.URL, BaseURLEnv: ls.BaseURLEnv,
		CallPath: "/stock/market-data",
		Other:    kauth.KIS,
		New: func(base string, c *http.Client, now func() time.Time) kauth.Provider {
			return &ls.Provider{BaseURL: base, HTTPClient: c, Now: now}
		},
	}))
}

func TestNextExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-01T10:00:00+09:00": "2026-12-02T07:00:00+09:00",
		"2026-12-01T06:59:00+09:00": "2026-12-02T07:00:00+09:00",
		"2026-12-31T23:30:00+09:00": "2027-01-01T07:00:00+09:00",
	} {
		at, _ := time.Parse(time.RFC3339, in)
		if got := ls.NextExpiry(at.UTC()).In(kauth.KST).Format(time.RFC3339); got != want {
			t.Errorf("NextExpiry(%s) = %s; want %s", in, got, want)
		}
	}
}
