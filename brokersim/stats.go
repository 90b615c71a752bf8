package brokersim

import "github.com/kauth/kauth"

// Counts are the counters the simulator keeps, in total and per broker,
// env and app.
type Counts struct {
	// Requests is every request routed to a broker endpoint, faulted ones
	// included. It is not broken down per app.
	Requests int `json:"requests"`
	// Issued is the number of new tokens minted.
	Issued int `json:"issued"`
	// Reissued is the number of token answers that handed back the current
	// token again (KIS within 6 h, Kiwoom while valid).
	Reissued int `json:"reissued"`
	// Revoked is the number of tokens revoked (revoking one twice counts
	// once).
	Revoked int `json:"revoked"`
	// Superseded is the number of tokens made invalid by a newer one
	// (ReissueNewRevokeOld).
	Superseded int `json:"superseded"`
	// Calls is the number of protected API calls (KIS inquire-price and
	// inquire-balance, Kiwoom ka10001 and kt00018), whatever their outcome;
	// OK is how many succeeded.
	Calls int `json:"calls"`
	OK    int `json:"ok"`
	// Rejected is the number of requests answered with one of the broker's
	// own errors (bad credentials, rate limits, rejected tokens, bad input);
	// RateLimited and TokenRejected count two kinds of them.
	Rejected      int `json:"rejected"`
	RateLimited   int `json:"rate_limited"`
	TokenRejected int `json:"token_rejected"`
	// Approvals and Hashkeys count KIS approval keys and hashkeys handed out.
	Approvals int `json:"approvals"`
	Hashkeys  int `json:"hashkeys"`
	// Faults is the number of requests answered by an injected Fault.
	Faults int `json:"faults"`
}

// AppStats are the counters of one registered app. The app key appears only
// as its fingerprint.
type AppStats struct {
	Broker      kauth.Broker `json:"broker"`
	Env         kauth.Env    `json:"env"`
	Fingerprint string       `json:"fingerprint"`
	Counts
}

// Stats is a snapshot of the simulator's counters. The embedded Counts are
// the totals, so the JSON form has top-level "issued", "revoked", "calls"…
// beside the breakdowns.
type Stats struct {
	Counts
	// Brokers and Envs break the totals down by broker and by env.
	Brokers map[kauth.Broker]Counts `json:"brokers"`
	Envs    map[kauth.Env]Counts    `json:"envs"`
	// Targets breaks them down by broker and env: "kis/mock".
	Targets map[string]Counts `json:"targets"`
	// Apps breaks them down by app: "kis/mock/<fingerprint>" (the string of
	// the app's kauth.Key). Only registered apps appear.
	Apps map[string]AppStats `json:"apps"`
}

type statsState struct {
	total   Counts
	brokers map[kauth.Broker]*Counts
	envs    map[kauth.Env]*Counts
	targets map[string]*Counts
	apps    map[appID]*Counts
}

func bump[K comparable](m *map[K]*Counts, k K, f func(*Counts)) {
	if *m == nil {
		*m = make(map[K]*Counts)
	}
	c := (*m)[k]
	if c == nil {
		c = new(Counts)
		(*m)[k] = c
	}
	f(c)
}

// count applies f to the totals, the broker, env and target counters, and
// to the app's if appKey names an app registered at b and e. The caller
// holds s.mu.
func (s *Server) count(b kauth.Broker, e kauth.Env, appKey string, f func(*Counts)) {
	st := &s.stats
	f(&st.total)
	bump(&st.brokers, b, f)
	bump(&st.envs, e, f)
	bump(&st.targets, string(b)+"/"+string(e), f)
	if id := (appID{b, e, appKey}); appKey != "" && s.apps[id] != nil {
		bump(&st.apps, id, f)
	}
}

// reject counts a broker error answer, and applies more (if not nil) too.
func (s *Server) reject(b kauth.Broker, e kauth.Env, appKey string, more func(*Counts)) {
	s.count(b, e, appKey, func(c *Counts) {
		c.Rejected++
		if more != nil {
			more(c)
		}
	})
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Counts:  s.stats.total,
		Brokers: make(map[kauth.Broker]Counts),
		Envs:    make(map[kauth.Env]Counts),
		Targets: make(map[string]Counts),
		Apps:    make(map[string]AppStats),
	}
	for k, c := range s.stats.brokers {
		st.Brokers[k] = *c
	}
	for k, c := range s.stats.envs {
		st.Envs[k] = *c
	}
	for k, c := range s.stats.targets {
		st.Targets[k] = *c
	}
	for id, c := range s.stats.apps {
		key := kauth.Key{Broker: id.broker, Env: id.env, Fingerprint: kauth.Fingerprint(id.key)}
		st.Apps[key.String()] = AppStats{Broker: id.broker, Env: id.env, Fingerprint: key.Fingerprint, Counts: *c}
	}
	return st
}

// App returns the counters of one app (zero if it made no request).
func (st Stats) App(b kauth.Broker, e kauth.Env, appKey string) Counts {
	key := kauth.Key{Broker: b, Env: e, Fingerprint: kauth.Fingerprint(appKey)}
	return st.Apps[key.String()].Counts
}
