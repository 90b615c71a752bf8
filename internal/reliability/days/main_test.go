// Package days_test runs the reliability suite's virtual days (seven by
// default, thirty with KAUTH_LONG=1). It is a package of its own so that
// `go test ./...` runs it beside the rest of internal/reliability rather
// than after it: it is the longest test and needs no child processes.
package days_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
