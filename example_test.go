package kauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
	"github.com/kauth/kauth/kis"
	"github.com/kauth/kauth/kiwoom"
)

func ExampleManager_Token() {
	// The broker simulator stands in for https://openapivts.koreainvestment.com:29443.
	sim := brokersim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()

	m, err := kauth.NewManager(kauth.Config{
		// In a real program: AppKey: os.Getenv("KIS_APPKEY"), AppSecret: os.Getenv("KIS_APPSECRET").
		Credentials: brokersim.DemoKISMock.Credentials(),
		Provider:    &kis.Provider{BaseURL: brokersim.BaseURL(srv.URL, kauth.KIS, kauth.Mock)},
		Logger:      discardLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	ctx := context.Background()
	tok, err := m.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	again, _ := m.Token(ctx) // served from memory: no second issuance
	fmt.Println(tok.Type, again.AccessToken == tok.AccessToken)
	fmt.Println("issued:", sim.Issued(kauth.KIS, kauth.Mock, brokersim.DemoKISMock.AppKey))
	// Output:
	// Bearer true
	// issued: 1
}

func ExampleTransport() {
	sim := brokersim.New()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	base := brokersim.BaseURL(srv.URL, kauth.Kiwoom, kauth.Mock)

	m, err := kauth.NewManager(kauth.Config{
		Credentials: brokersim.DemoKiwoomMock.Credentials(),
		Provider:    &kiwoom.Provider{BaseURL: base},
		Store:       kauth.NewMemoryStore(),
		Logger:      discardLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Every request through the client carries a valid token; a token the
	// broker rejects is replaced and the request retried once.
	client := &http.Client{Transport: &kauth.Transport{Manager: m}}
	req, _ := http.NewRequest("POST", base+"/api/dostk/stkinfo", jsonBody(`{"stk_cd":"005930"}`))
	req.Header.Set("api-id", "ka10001")
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ReturnCode json.Number `json:"return_code"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println("return_code:", out.ReturnCode)
	// Output:
	// return_code: 0
}
