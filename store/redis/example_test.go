package redis_test

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/store/file"
	"github.com/kauth/kauth/store/redis"
)

func ExampleOpen() {
	// Every host that shares the store needs the same key.
	key, err := file.ParseKey(os.Getenv("KAUTH_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := redis.Open("redis://127.0.0.1:6379/0", key)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	k := kauth.Credentials{Broker: kauth.KIS, Env: kauth.Real, AppKey: os.Getenv("KIS_APPKEY")}.Key()
	if _, err := s.Load(context.Background(), k); err != nil && !errors.Is(err, kauth.ErrNotFound) {
		// Redis is down: the caller carries on with its in-memory token.
		log.Print(err)
	}
}
