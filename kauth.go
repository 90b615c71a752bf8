// Package kauth keeps the access tokens of Korean brokerage Open APIs valid,
// shared and safe: KIS (한국투자증권), Kiwoom (키움증권), LS (LS증권),
// DB (DB증권) and Toss (토스증권).
//
// A Manager hands out a valid token for one set of Credentials, issuing
// upstream only when it must: a fresh cached token costs an atomic load,
// a token near expiry is served while one background refresh runs, and a
// missing or expired token makes concurrent callers share one upstream call.
// A Store shares tokens beyond one process (see the store packages), and a
// Transport adds each broker's auth headers to outgoing requests and heals a
// rejected token with one transparent retry.
//
// The broker-specific wire formats live in one package per broker (kis,
// kiwoom, ls, db, toss), which implements Provider; the brokers package lists
// them. This package imports none of them: what the engine needs to know of
// a broker comes from its Provider (IssueSpacer, LifetimeCapper, IPBinder).
//
// There is no process-wide state. Managers share memory only through a
// Group passed in Config: Managers of one Group with no Store share one
// MemoryStore per broker URL (and issue once between them), and Managers of
// one Group on one Store value hear of each other's writes.
package kauth

import (
	"fmt"
	"strings"
	"time"
)

// Broker names a brokerage whose Open API kauth authenticates against.
type Broker string

// The supported brokers.
const (
	KIS    Broker = "kis"    // 한국투자증권 Open API
	Kiwoom Broker = "kiwoom" // 키움증권 REST API
)

// Env is a broker environment: real trading or the mock (모의투자) server.
// Real and mock have separate apps, tokens and limits, and kauth keeps them
// apart everywhere.
type Env string

// The environments.
const (
	Real Env = "real"
	Mock Env = "mock"
)

// ParseEnv parses an environment name. Besides real and mock it accepts the
// aliases prod (real), and dev, paper and vps (mock; KIS calls its mock
// server "VTS").
func ParseEnv(s string) (Env, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "real", "prod", "production", "실전":
		return Real, nil
	case "mock", "dev", "paper", "vps", "vts", "모의":
		return Mock, nil
	}
	return "", fmt.Errorf("kauth: unknown env %q (want real or mock)", s)
}

// KST is Korea Standard Time (UTC+09:00, no daylight saving). Every time the
// brokers print is KST with no zone marker; parsing it in the machine's local
// zone is off by nine hours on a UTC server.
var KST = time.FixedZone("KST", 9*60*60)
