package brokersim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokersim"
)

// A KIS client against the simulator: the second issue within a minute is
// refused, and an issue two hours later returns the same token.
func Example() {
	sim := brokersim.New()
	sim.Clock = func() time.Time { return time.Date(2024, 3, 10, 6, 30, 0, 0, time.UTC) } // 15:30 KST
	ts := httptest.NewServer(sim)
	defer ts.Close()

	app := brokersim.DemoKISMock
	url := brokersim.BaseURL(ts.URL, kauth.KIS, kauth.Mock) + "/oauth2/tokenP"
	issue := func() {
		body, _ := json.Marshal(map[string]string{
			"grant_type": "client_credentials", "appkey": app.AppKey, "appsecret": app.Secret,
		})
		resp, err := http.Post(url, "application/json; charset=UTF-8", bytes.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		var v struct {
			Expired   string `json:"access_token_token_expired"`
			ExpiresIn int    `json:"expires_in"`
			ErrorCode string `json:"error_code"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		fmt.Println(resp.StatusCode, v.ErrorCode, v.Expired, v.ExpiresIn)
	}

	issue()
	sim.Advance(10 * time.Second)
	issue()
	sim.Advance(2 * time.Hour)
	issue()
	st := sim.Stats()
	fmt.Println("issued", st.Issued, "reissued", st.Reissued, "rejected", st.Rejected)
	// Output:
	// 200  2024-03-11 15:30:00 86400
	// 403 EGW00133  0
	// 200  2024-03-11 15:30:00 79190
	// issued 1 reissued 1 rejected 1
}
