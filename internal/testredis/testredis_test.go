package testredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/kauth/kauth/internal/testredis"
)

func TestPrefixRemovesItsKeys(t *testing.T) {
	c := testredis.Client(t)
	var prefix string
	t.Run("Writer", func(t *testing.T) {
		prefix = testredis.Prefix(t)
		if err := c.Set(t.Context(), prefix+":k", "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	})
	n, err := c.Exists(context.Background(), prefix+":k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("key %s:k still exists after its test ended", prefix)
	}
}

func TestPrefixesDiffer(t *testing.T) {
	if a, b := testredis.Prefix(t), testredis.Prefix(t); a == b {
		t.Errorf("Prefix() = %q twice; want a namespace per call", a)
	}
}

func TestTryAgreesWithURL(t *testing.T) {
	u, ok := testredis.Try(t)
	if !ok {
		t.Skip("no test Redis")
	}
	if got := testredis.URL(t); got != u {
		t.Errorf("URL() = %q; Try() = %q", got, u)
	}
}
