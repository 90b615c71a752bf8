package rtowner

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRelayAuth(t *testing.T) {
	storeKey := bytes.Repeat([]byte{7}, 32)
	secret := Secret(storeKey)
	if bytes.Equal(secret, storeKey) || len(secret) != 32 {
		t.Fatalf("Secret(key) = the key itself or of length %d", len(secret))
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	h, nonce := Sign(secret, "up1", 9, now)
	for _, v := range h {
		for _, s := range v {
			if bytes.Contains([]byte(s), storeKey) || bytes.Contains([]byte(s), secret) {
				t.Fatal("a header carries the key")
			}
		}
	}

	var v Verifier
	fence, got, err := v.Verify(secret, "up1", h, now.Add(time.Second))
	if err != nil || fence != 9 || got != nonce {
		t.Fatalf("Verify(signed) = %d, %q, %v; want 9, %q, nil", fence, got, err, nonce)
	}
	if _, _, err := v.Verify(secret, "up1", h, now.Add(2*time.Second)); err != ErrAuth {
		t.Errorf("Verify(replayed) = %v; want ErrAuth", err)
	}

	tamper := func(k, val string) http.Header {
		h, _ := Sign(secret, "up1", 9, now)
		h.Set(k, val)
		return h
	}
	bad := []struct {
		name   string
		secret []byte
		id     string
		h      http.Header
		at     time.Time
	}{
		{"another key", Secret(bytes.Repeat([]byte{8}, 32)), "up1", func() http.Header { h, _ := Sign(secret, "up1", 9, now); return h }(), now},
		{"another upstream", secret, "up2", func() http.Header { h, _ := Sign(secret, "up1", 9, now); return h }(), now},
		{"fence changed", secret, "up1", tamper(HeaderFence, "10"), now},
		{"time changed", secret, "up1", tamper(HeaderTime, strconv.FormatInt(now.Unix()+1, 10)), now},
		{"no MAC", secret, "up1", tamper(HeaderMAC, ""), now},
		{"no nonce", secret, "up1", tamper(HeaderNonce, ""), now},
		{"too old", secret, "up1", func() http.Header { h, _ := Sign(secret, "up1", 9, now); return h }(), now.Add(Window + time.Second)},
		{"from the future", secret, "up1", func() http.Header { h, _ := Sign(secret, "up1", 9, now); return h }(), now.Add(-Window - time.Second)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var v Verifier
			if _, _, err := v.Verify(tt.secret, tt.id, tt.h, tt.at); err != ErrAuth {
				t.Errorf("Verify = %v; want ErrAuth", err)
			}
		})
	}

	// The owner's proof: only one that holds the secret, for this nonce.
	resp := &http.Response{Header: http.Header{}}
	resp.Header.Set(HeaderProof, Proof(secret, "up1", 9, nonce))
	if err := CheckProof(secret, "up1", 9, nonce, resp); err != nil {
		t.Errorf("CheckProof(good) = %v", err)
	}
	resp.Header.Set(HeaderProof, Proof(secret, "up1", 9, "other"))
	if err := CheckProof(secret, "up1", 9, nonce, resp); err == nil {
		t.Error("CheckProof(proof of another nonce) = nil")
	}
	if err := CheckProof(secret, "up1", 9, nonce, nil); err == nil {
		t.Error("CheckProof(no answer) = nil")
	}
}
