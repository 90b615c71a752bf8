package brokerpath

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// pathSeeds are real broker paths and smuggling attempts against the proxy.
var pathSeeds = []string{
	"/uapi/domestic-stock/v1/quotations/inquire-price",
	"/uapi/domestic-stock/v1/trading/order-cash",
	"/uapi/hashkey",
	"/uapi/overseas-price/v1/quotations/price",
	"/api/dostk/stkinfo",
	"/api/dostk/acnt",
	"/uapi/%64omestic-stock/v1/x",
	"/uapi/%2e%2e/oauth2/tokenP",
	"/%2e%2e/%2e%2e/_sim/stats",
	"//oauth2/tokenP",
	"/./oauth2/tokenP",
	"/oauth2;x/tokenP",
	"/uapi/..;/oauth2/tokenP",
	"/uapi%2f..%2foauth2/tokenP",
	"/uapi/..%5coauth2/tokenP",
	"/uapi/%252e%252e/oauth2/tokenP",
	"/uapi/.../x",
	"/uapi/%00/x",
	"/UAPI/x",
	"/uapi/",
	"/uapi",
	"/api/%2e/x",
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		broker kauth.Broker
		in     string
		want   string // "" for refused
	}{
		{kauth.KIS, "/uapi/domestic-stock/v1/quotations/inquire-price", "/uapi/domestic-stock/v1/quotations/inquire-price"},
		{kauth.KIS, "/uapi/%64omestic-stock/v1/x", "/uapi/domestic-stock/v1/x"},
		{kauth.KIS, "/uapi/a.b/c~d_e", "/uapi/a.b/c~d_e"},
		{kauth.Kiwoom, "/api/dostk/stkinfo", "/api/dostk/stkinfo"},
		{kauth.Kiwoom, "/uapi/hashkey", ""},
		{kauth.KIS, "/api/dostk/stkinfo", ""},
		{kauth.KIS, "/uapi/%2e%2e/oauth2/tokenP", ""},
		{kauth.KIS, "/uapi/%2E/x", ""},
		{kauth.KIS, "/uapi/x%2fy", ""},
		{kauth.KIS, "/uapi/x%5cy", ""},
		{kauth.KIS, "/uapi/x%3by", ""},
		{kauth.KIS, "/uapi/x%25", ""},
		{kauth.KIS, "/uapi/x%2", ""},
		{kauth.KIS, "/uapi/x%zz", ""},
		{kauth.KIS, "/uapi//x", ""},
		{kauth.KIS, "/uapi/x/", ""},
		{kauth.KIS, "/uapi/./x", ""},
		{kauth.KIS, "/uapi/../x", ""},
		{kauth.KIS, "/uapi/.../x", ""},
		{kauth.KIS, "/uapi/x;y", ""},
		{kauth.KIS, "/uapi/x y", ""},
		{kauth.KIS, "/uapi/é", ""},
		{kauth.KIS, "uapi/x", ""},
		{kauth.KIS, "/UAPI/x", ""},
		{kauth.KIS, "/oauth2/tokenP", ""},
	} {
		got, err := Canonical(prefixesOf((tc.broker)), tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Canonical(%s, %q) = %q; want a refusal", tc.broker, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Canonical(%s, %q) = %q, %v; want %q", tc.broker, tc.in, got, err, tc.want)
		}
	}
}

// normalize is what a path-normalizing gateway may do to a path: decode
// (again and again), turn backslashes into slashes, drop ;parameters,
// resolve dot segments and merge slashes.
func normalize(p string) string {
	for i := 0; i < 4; i++ {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = strings.ReplaceAll(p, `\`, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

// FuzzCanonical: whatever path a client sends, what the proxy forwards
// is under the broker's prefix and means the same to any normalizing
// gateway: normalizing it changes nothing.
func FuzzCanonical(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, kiwoom bool) {
		b := kauth.KIS
		if kiwoom {
			b = kauth.Kiwoom
		}
		prefixes := prefixesOf((b))
		out, err := Canonical(prefixes, in)
		if err != nil {
			if out != "" {
				t.Fatalf("refused %q but returned %q", in, out)
			}
			return
		}
		ok := false
		for _, pre := range prefixes {
			ok = ok || strings.HasPrefix(out, pre)
		}
		if !ok {
			t.Fatalf("Canonical(%q) = %q: outside the allow-list", in, out)
		}
		if n := normalize(out); n != out {
			t.Fatalf("Canonical(%q) = %q, which a gateway normalizes to %q", in, out, n)
		}
		if n := normalize(in); n != out {
			t.Fatalf("Canonical(%q) = %q, but a gateway reads the input as %q", in, out, n)
		}
		if again, err := Canonical(prefixes, out); err != nil || again != out {
			t.Fatalf("canonicalPath is not idempotent on %q: %q, %v", out, again, err)
		}
		if strings.ContainsAny(out, "%;\\?#") {
			t.Fatalf("Canonical(%q) = %q holds a character a gateway may act on", in, out)
		}
	})
}

// prefixesOf returns the API paths broker b's Provider forwards.
func prefixesOf(b kauth.Broker) []string {
	p, ok := brokers.MustGet(b).New("", nil, nil).(interface{ APIPrefixes() []string })
	if !ok {
		return nil
	}
	return p.APIPrefixes()
}
