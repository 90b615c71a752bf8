package file_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/store/file"
)

func ExampleNew() {
	tmp, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	// The directory is created 0700, and a key file beside the entries.
	s, err := file.New(filepath.Join(tmp, "kauth"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	key := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Mock, AppKey: "PSexample", AppSecret: "x"}.Key()

	// The read-check-issue-write critical section, as the Manager runs it.
	lease, err := s.Lock(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Load(ctx, key); errors.Is(err, kauth.ErrNotFound) {
		tok := kauth.Token{AccessToken: "issued", Type: "Bearer", ExpiresAt: time.Now().Add(24 * time.Hour)}
		if err := s.Save(ctx, key, kauth.Entry{Token: tok, LastIssue: time.Now()}); err != nil {
			log.Fatal(err)
		}
	}
	lease.Unlock()

	// One file per key, named by the app key's fingerprint, sealed.
	names, _ := filepath.Glob(filepath.Join(s.Dir(), "*"))
	for _, n := range names {
		fmt.Println(filepath.Base(n))
	}
	// Output:
	// key
	// key.lock
	// kis-mock-38105fe88a7f.fence
	// kis-mock-38105fe88a7f.lock
	// kis-mock-38105fe88a7f.tok
}
