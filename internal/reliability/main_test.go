package reliability_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/kauth/kauth/internal/reliability"
)

func TestMain(m *testing.M) {
	if reliability.IsChild() {
		os.Exit(reliability.ChildMain())
	}
	goleak.VerifyTestMain(m)
}
