package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kauth/kauth"
)

// TestMalformedTokenAnswer: a broker that answered with something that
// cannot be a token is the broker's failure, told as 502 malformed_token
// with the broker named, not as the agent's own 500.
func TestMalformedTokenAnswer(t *testing.T) {
	err := &kauth.Error{Broker: kauth.KIS, Env: kauth.Mock, Op: "issue", Kind: kauth.ErrMalformedToken}
	if got := errorKind(err); got != "malformed_token" {
		t.Errorf("errorKind() = %q; want malformed_token", got)
	}
	w := httptest.NewRecorder()
	writeKauthError(w, httptest.NewRequest("GET", "/v1/accounts/kis-mock/token", nil), err)
	var body apiError
	if jerr := json.Unmarshal(w.Body.Bytes(), &body); jerr != nil {
		t.Fatal(jerr)
	}
	if w.Code != http.StatusBadGateway || body.Code != "malformed_token" || body.Broker != "kis" {
		t.Errorf("answer = %d %s; want 502 malformed_token naming kis", w.Code, w.Body)
	}
}
