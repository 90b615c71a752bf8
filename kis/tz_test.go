package kis

import (
	"testing"
	"time"
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
