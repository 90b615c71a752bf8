package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// Exit codes, as the README's command section documents them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything else
	exitUsage       = 2 // usage or configuration error
	exitCredentials = 3 // the broker rejected the app key or secret
	exitUnavailable = 4 // the broker is unavailable or rate limited after retries
)

// cli is one invocation of the command: its streams and environment. Every
// command reads the environment through getenv, never os.Getenv, so that
// tests run commands side by side with different settings.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// hangups delivers the requests to reload (SIGHUP) to kauth serve.
	hangups <-chan os.Signal
	// signals delivers the signals kauth run passes on to its command.
	signals <-chan os.Signal
	// environ is the environment kauth run's command starts from.
	environ func() []string
	// log holds the --log-format and --log-level flags of the command.
	log logSettings
	// onFlags, if set, learns each flag set the command builds
	// (commandTable).
	onFlags func(*flagSet)
	// commands is the command table, for kauth completion (which is in
	// it).
	commands []command
	// browser opens a local file in the user's browser (kauth open).
	browser func(ctx context.Context, path string) error
}

// Options are what a command runs with besides its arguments.
type Options struct {
	Stdin          io.Reader // nil: empty
	Stdout, Stderr io.Writer
	Getenv         func(string) string // nil: an empty environment
	// Hangups, if not nil, delivers the requests to reload its config to
	// kauth serve: main passes SIGHUP. Other commands ignore it.
	Hangups <-chan os.Signal
	// Signals, if not nil, delivers the signals kauth run passes on to the
	// command it runs: main passes SIGINT, SIGTERM and SIGHUP.
	Signals <-chan os.Signal
	// Environ is the environment kauth run's command starts from; nil: an
	// empty one.
	Environ func() []string
	// Browser opens a local file in the user's browser (kauth open); nil:
	// the system's opener (xdg-open, open, or rundll32 on windows).
	Browser func(ctx context.Context, path string) error
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

var commands = []command{
	{"token", "print a valid access token, issuing one only when needed", (*cli).token},
	{"status", "list the cached tokens", (*cli).status},
	{"revoke", "revoke the cached token at the broker and forget it", (*cli).revoke},
	{"approval", "print a KIS WebSocket approval key", (*cli).approval},
	{"hashkey", "print the KIS hashkey of the order body on stdin", (*cli).hashkey},
	{"serve", "run the local agent that hands out tokens and proxies calls", (*cli).serve},
	{"reload", "make the running agent re-read its config (SIGHUP on every OS)", (*cli).reload},
	{"sim", "run the broker simulator (every broker, each of its envs)", (*cli).sim},
	{"demo", "walk through the life of a token on the built-in simulator", (*cli).demo},
	{"version", "print the version, commit, build date and Go version", (*cli).version},
	{"doctor", "check the clock, store, agent and credentials of a deployment", (*cli).doctor},
	{"run", "run a command with a valid token in its environment (KAUTH_TOKEN)", (*cli).run},
	{"health", "ask a running agent whether it is up (exit 0) or not (exit 1)", (*cli).health},
	{"open", "open the running agent's status page in a browser (one-time link)", (*cli).open},
	{"completion", "print a bash, zsh or fish completion script", (*cli).completion},
}

// Main runs the command line args and returns the process's exit code. An
// error is printed to stderr as one line.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return MainOptions(ctx, args, Options{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv})
}

// MainOptions is Main with Options.
func MainOptions(ctx context.Context, args []string, o Options) int {
	err := RunOptions(ctx, args, o)
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		// kauth run passes on its command's status; the command spoke
		// for itself.
		return int(st)
	}
	fmt.Fprintln(o.Stderr, errorLine(err))
	return ExitCode(err)
}

// Run runs the command line args (without the program name). It returns
// nil for success and for --help.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	return RunOptions(ctx, args, Options{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv})
}

// RunOptions is Run with Options.
func RunOptions(ctx context.Context, args []string, o Options) error {
	getenv, stdin := o.Getenv, o.Stdin
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	environ := o.Environ
	if environ == nil {
		environ = func() []string { return nil }
	}
	c := &cli{stdin: stdin, stdout: o.Stdout, stderr: o.Stderr, getenv: getenv, hangups: o.Hangups, signals: o.Signals, environ: environ,
		commands: commands, browser: o.Browser}
	if len(args) == 0 {
		return usageErrorf("", "no command given; run kauth help")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			// "kauth help token" is "kauth token --help".
			return RunOptions(ctx, []string{rest[0], "--help"}, o)
		}
		c.usage(c.stdout)
		return nil
	case "--version", "-version":
		name = "version"
	}
	for _, cmd := range commands {
		if cmd.name == name {
			err := cmd.run(c, ctx, rest)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return usageErrorf("", "unknown command %q; run kauth help", name)
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, `kauth keeps the access tokens of Korean brokers' Open APIs valid, shared and
safe: %s.

Usage: kauth <command> [flags]

Commands:
`, brokerDisplays())
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, envHelp()+`
Run "kauth <command> --help" for a command's flags.
`)
}

// envHelp lists the environment, shared by every help text: each listed
// broker's variables, then kauth's own.
func envHelp() string {
	var b strings.Builder
	b.WriteString("\nEnvironment (credentials are never taken from flags: arguments show in ps):\n")
	line := func(vars, what string) { fmt.Fprintf(&b, "  %-34s %s\n", vars, what) }
	for _, s := range brokers.All() {
		line(s.KeyVar+", "+s.SecretVar, s.Display+" credentials")
	}
	var bases []string
	for _, s := range brokers.All() {
		bases = append(bases, s.BaseURLVar)
	}
	b.WriteString("  " + strings.Join(bases, ", ") + "\n")
	line("", "override the broker's domain (proxy, simulator)")
	line("KAUTH_STORE", "file (default), memory, or a redis:// URL")
	line("KAUTH_CACHE_DIR", "the file store's directory (default: user cache dir/kauth)")
	line("KAUTH_KEY", "base64 32-byte store key (default: a 0600 key file in the cache dir)")
	b.WriteString(`
Exit codes: 0 ok, 2 usage or configuration error, 3 credentials rejected,
4 broker unavailable or rate limited after retries, 1 anything else.
`)
	return b.String()
}

// brokerDisplays names every listed broker for people: "KIS (한국투자증권),
// Kiwoom (키움증권), …".
func brokerDisplays() string {
	var names []string
	for _, s := range brokers.All() {
		names = append(names, s.Display)
	}
	return strings.Join(names, ", ")
}

// brokerStrings returns the names of the listed brokers.
func brokerStrings() []string {
	var names []string
	for _, b := range brokers.Names() {
		names = append(names, string(b))
	}
	return names
}

// envVars returns the variables that select each broker's environments.
func envVars() []string {
	var vars []string
	for _, s := range brokers.All() {
		vars = append(vars, s.EnvVar)
	}
	return vars
}

// brokerAlts is the --broker placeholder of a synopsis: "kis|kiwoom|…".
func brokerAlts() string {
	var names []string
	for _, b := range brokers.Names() {
		names = append(names, string(b))
	}
	return strings.Join(names, "|")
}

// usageError is a command line that cannot be run as given: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usageErrorf returns a usageError whose message names the command.
func usageErrorf(cmd, format string, args ...any) error {
	prefix := "kauth: "
	if cmd != "" {
		prefix = "kauth " + cmd + ": "
	}
	return &usageError{prefix + fmt.Sprintf(format, args...)}
}

// configError is a missing or invalid setting (an environment variable, the
// store, a config file): exit code 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Errorf(format, args...)}
}

// ExitCode maps err to the process's exit code.
func ExitCode(err error) int {
	var ue *usageError
	var ce *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue), errors.As(err, &ce):
		return exitUsage
	case errors.Is(err, kauth.ErrCredentials):
		return exitCredentials
	case errors.Is(err, kauth.ErrUnavailable), errors.Is(err, kauth.ErrRateLimited),
		errors.Is(err, context.DeadlineExceeded):
		// Running out of time while the broker fails or makes us wait is
		// the broker being unavailable, as far as the caller can tell.
		return exitUnavailable
	}
	return exitFailure
}

// errorLine formats err as the one line that goes to stderr.
func errorLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if !strings.HasPrefix(s, "kauth") {
		s = "kauth: " + s
	}
	return dedupPrefixes(s)
}

// dedupPrefixes drops the "kauth" and "<broker> <env>" prefixes that each
// layer of a wrapped error adds again ("kauth: kis mock: warning: …: kauth:
// kis mock: writing the store: kauth: redis store: …"), keeping the first
// of each, so that the line names them once.
func dedupPrefixes(s string) string {
	parts := strings.Split(s, ": ")
	if len(parts) < 3 || parts[0] != "kauth" {
		return s
	}
	target := parts[1]
	if b, e, ok := strings.Cut(target, " "); !ok || strings.Contains(e, " ") || b == "" {
		target = "" // not "<broker> <env>"
	}
	out := parts[:2]
	for _, p := range parts[2:] {
		if p == "kauth" || (target != "" && p == target) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

// syncWriter serializes writes from concurrent goroutines (request logs of
// a server) to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
