package kis

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
		want    string // RFC 3339 in UTC; "" for an error
		wantErr bool
	}{
		{"2023-12-22 08:16:59", "2023-12-21T23:16:59Z", false},
		{" 2024-01-01 00:00:00 ", "2023-12-31T15:00:00Z", false},
		{"2024-02-29 23:59:59", "2024-02-29T14:59:59Z", false},
		{"", "", true},
		{"2023-12-22T08:16:59", "", true},
		{"20231222081659", "", true},
		{"2023-13-22 08:16:59", "", true},
		{"2023-12-22 08:16:59 +0900", "", true},
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
	for _, s := range []string{"2023-12-22 08:16:59", "2024-03-10 02:30:00", "2024-11-03 01:30:00"} {
		tm, err := ParseExpiry(s)
		if err != nil {
			t.Fatalf("ParseExpiry(%q) = %v", s, err)
		}
		fmt.Fprintf(&b, "ParseExpiry(%s)=%s\n", s, tm.UTC().Format(time.RFC3339))
	}
	for _, body := range []string{
		seedToken,
		`{"access_token":"` + fakeToken + `","access_token_token_expired":"2023-12-21 13:16:59","token_type":"Bearer","expires_in":86400}`,
	} {
		srv := brokertest.NewServer(t, tokenRoute(t, http.StatusOK, body))
		p := &Provider{BaseURL: srv.URL, Now: fixedNow}
		tok, err := p.Issue(context.Background(), mockCreds)
		if err != nil {
			t.Fatalf("Issue() = %v", err)
		}
		fmt.Fprintf(&b, "Issue().ExpiresAt=%s\n", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// TestExpiryUnderTZ re-executes this test binary under TZ=UTC and
// TZ=America/New_York and checks that every expiry comes out the same as
// here and as the expected instants.
func TestExpiryUnderTZ(t *testing.T) {
	brokertest.SameUnderTZ(t, expiryReport, strings.Join([]string{
		"ParseExpiry(2023-12-22 08:16:59)=2023-12-21T23:16:59Z",
		"ParseExpiry(2024-03-10 02:30:00)=2024-03-09T17:30:00Z",
		"ParseExpiry(2024-11-03 01:30:00)=2024-11-02T16:30:00Z",
		"Issue().ExpiresAt=2023-12-21T23:16:59Z",
		"Issue().ExpiresAt=2023-12-21T04:16:59Z",
	}, "\n"))
}
