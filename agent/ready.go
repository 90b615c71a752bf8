package agent

import "net/http"

// Readiness is the answer of GET /readyz.
type Readiness struct {
	// Status is "ready" when every account holds a usable token or has
	// failed for a stated reason (waiting will not change it), else
	// "not_ready" (with 503).
	Status   string           `json:"status"`
	Accounts []AccountReadyAt `json:"accounts"`
}

// AccountReadyAt is one account's part in Readiness.
type AccountReadyAt struct {
	Name string `json:"name"`
	// State is "ready" (a usable token), "failed" (the last try to get one
	// failed, for Reason) or "pending" (no token yet, nor a failure).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// serveReady answers GET /readyz: 200 once every account holds a usable
// token or has failed for a stated reason, 503 with each account's state
// otherwise. Like /healthz it needs no key: it holds no token or secret.
func (a *Agent) serveReady(w http.ResponseWriter, r *http.Request) {
	out := Readiness{Status: "ready", Accounts: []AccountReadyAt{}}
	for _, acct := range a.snapshot() {
		st := AccountReadyAt{Name: acct.name, State: "ready"}
		if _, ok := acct.mgr.Cached(); !ok {
			if why := acct.keepFailure.Load(); why != nil {
				st.State, st.Reason = "failed", *why
			} else {
				st.State, st.Reason = "pending", "waiting for its first token"
				out.Status = "not_ready"
			}
		}
		out.Accounts = append(out.Accounts, st)
	}
	status := http.StatusOK
	if out.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}
