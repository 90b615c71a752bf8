package main

import (
	"context"
	"fmt"

	"github.com/kauth/kauth/internal/buildinfo"
)

func (c *cli) version(_ context.Context, args []string) error {
	fs := c.flags("version", "kauth version", `
Print kauth's version, the git commit it was built from ("-modified" when the
checkout had uncommitted changes), that commit's date and the Go toolchain
that built it. A release build sets them with
-ldflags "-X github.com/kauth/kauth/internal/buildinfo.version=… .commit=… .date=…".
"kauth --version" is the same.`)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprint(c.stdout, buildinfo.Get())
	return nil
}
