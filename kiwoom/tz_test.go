package kiwoom

import (
	"testing"
	"time"
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
