package db_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/db"
	"github.com/kauth/kauth/internal/brokertest"
	"github.com/kauth/kauth/internal/igw/igwtest"
)

// TestProvider runs the conformance suite every broker passes, with the
// gateway's facts and DB's domain, variable and PRICE call.
func TestProvider(t *testing.T) {
	brokertest.Run(t, igwtest.Facts(igwtest.Broker{
		Name: db.Broker, URL: db.URL, BaseURLEnv: db.BaseURLEnv,
		CallPath: "/api/v1/quote/kr-stock/inquiry/price",
		Other:    kauth.Kiwoom,
		New: func(base string, c *http.Client, now func() time.Time) kauth.Provider {
			return &db.Provider{BaseURL: base, HTTPClient: c, Now: now}
		},
	}))
}
