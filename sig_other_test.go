//go:build !unix

package kauth_test

import "os"

// sigStop and sigCont are nil: no signal freezes a process here.
var sigStop, sigCont os.Signal
