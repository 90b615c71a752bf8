package brokersim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kauth/kauth"
)

func TestSmoke(t *testing.T) {
	sim := New()
	ts := httptest.NewServer(sim)
	defer ts.Close()
	a := DemoKISMock
	body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "appkey": a.AppKey, "appsecret": a.Secret})
	resp, err := http.Post(BaseURL(ts.URL, kauth.KIS, kauth.Mock)+"/oauth2/tokenP", "application/json; charset=UTF-8", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var tr kisTokenResponse
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != 200 || tr.AccessToken == "" || tr.ExpiresIn != 86400 {
		t.Fatalf("status %d, %+v", resp.StatusCode, tr)
	}
	if got := sim.Issued(kauth.KIS, kauth.Mock, a.AppKey); got != 1 {
		t.Fatalf("Issued = %d", got)
	}
	t.Log(sim.Banner(ts.URL))
}
