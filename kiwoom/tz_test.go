package kiwoom

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kauth/kauth/internal/brokertest"
)

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in      string
		want    string // RFC 3339 in UTC
		wantErr bool
	}{
		{"20241107083713", "2024-11-06T23:37:13Z", false},
		{" 20250101000000 ", "2024-12-31T15:00:00Z", false},
		{"", "", true},
		{"2024-11-07 08:37:13", "", true},
		{"202411070837", "", true},
		{"20241307083713", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExpiry(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseExpiry(%q) = %v; want an error", tt.in, got)
				}
				return
			}
			if err != nil || got.UTC().Format(time.RFC3339) != tt.want {
				t.Errorf("ParseExpiry(%q) = %v, %v; want %s", tt.in, got.UTC().Format(time.RFC3339), err, tt.want)
			}
			if _, off := got.Zone(); off != 9*3600 {
				t.Errorf("ParseExpiry(%q) zone offset = %d; want +09:00", tt.in, off)
			}
		})
	}
}

// expiryReport computes, in the current process's time zone, the expiries
// that must not depend on it, one per line.
func expiryReport(t *testing.T) string {
	var b strings.Builder
	for _, s := range []string{"20241107083713", "20240310023000", "20241103013000"} {
		tm, err := ParseExpiry(s)
		if err != nil {
			t.Fatalf("ParseExpiry(%q) = %v", s, err)
		}
		fmt.Fprintf(&b, "ParseExpiry(%s)=%s\n", s, tm.UTC().Format(time.RFC3339))
	}
	srv := brokertest.NewServer(t, tokenRoute(t, http.StatusOK, seedToken))
	tok, err := (&Provider{BaseURL: srv.URL, Now: fixedNow}).Issue(context.Background(), mockCreds)
	if err != nil {
		t.Fatalf("Issue() = %v", err)
	}
	fmt.Fprintf(&b, "Issue().ExpiresAt=%s\n", tok.ExpiresAt.UTC().Format(time.RFC3339))
	return b.String()
}

// TestExpiryUnderTZ re-executes this test binary under TZ=UTC and
// TZ=America/New_York and checks that every expiry comes out the same as
// here and as the expected instants.
func TestExpiryUnderTZ(t *testing.T) {
	brokertest.SameUnderTZ(t, expiryReport, strings.Join([]string{
		"ParseExpiry(20241107083713)=2024-11-06T23:37:13Z",
		"ParseExpiry(20240310023000)=2024-03-09T17:30:00Z",
		"ParseExpiry(20241103013000)=2024-11-02T16:30:00Z",
		"Issue().ExpiresAt=2024-11-06T23:37:13Z",
	}, "\n"))
}
