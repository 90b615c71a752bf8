package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kauth/kauth"
	"github.com/kauth/kauth/brokers"
)

// flagSet is one subcommand's flags and help text.
type flagSet struct {
	*flag.FlagSet
	c        *cli
	cmd      string
	synopsis string // "kauth token --broker kis|kiwoom --env real|mock [--json]"
	about    string // a paragraph on what the command does
}

func (c *cli) flags(cmd, synopsis, about string) *flagSet {
	fs := flag.NewFlagSet("kauth "+cmd, flag.ContinueOnError)
	// The flag package would print its own error and the whole usage to
	// stderr; kauth prints one line instead (and the usage on --help).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.log.register(fs)
	f := &flagSet{FlagSet: fs, c: c, cmd: cmd, synopsis: synopsis, about: about}
	if c.onFlags != nil {
		c.onFlags(f)
	}
	return f
}

// parse parses args. On --help it prints the help to stdout and returns
// flag.ErrHelp, which Run turns into success.
func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.help(fs.c.stdout)
		return flag.ErrHelp
	}
	if err != nil {
		return usageErrorf(fs.cmd, "%v; run kauth %s --help", err, fs.cmd)
	}
	if fs.NArg() > 0 {
		return usageErrorf(fs.cmd, "unexpected argument %q; run kauth %s --help", fs.Arg(0), fs.cmd)
	}
	return fs.c.log.check(fs.cmd)
}

func (fs *flagSet) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", fs.synopsis, strings.TrimSpace(fs.about))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprint(w, envHelp())
}

// target is the --broker and --env pair.
type target struct {
	broker, env string
	fixed       kauth.Broker // if set, the only broker the command serves
}

func (t *target) register(fs *flagSet) {
	if t.fixed != "" {
		fs.StringVar(&t.broker, "broker", string(t.fixed), "the broker (only "+string(t.fixed)+")")
	} else {
		fs.StringVar(&t.broker, "broker", "", "the broker: "+brokerList()+" (required)")
	}
	fs.StringVar(&t.env, "env", "", "the environment: real (alias prod) or mock (aliases dev, paper, vps) (required)")
}

// parse validates the pair.
func (t *target) parse(cmd string) (kauth.Broker, kauth.Env, error) {
	if t.broker == "" {
		return "", "", usageErrorf(cmd, "--broker is required (%s)", brokerList())
	}
	b, err := brokers.Parse(t.broker)
	if err != nil {
		return "", "", usageErrorf(cmd, "unknown broker %q (want %s)", t.broker, brokerList())
	}
	if t.fixed != "" && b != t.fixed {
		return "", "", usageErrorf(cmd, "only %s is supported (%s has no such call)", t.fixed, b)
	}
	if t.env == "" {
		return "", "", usageErrorf(cmd, "--env is required (real or mock)")
	}
	e, err := kauth.ParseEnv(t.env)
	if err != nil {
		return "", "", usageErrorf(cmd, "unknown env %q (want real or mock; aliases prod, dev, paper, vps)", t.env)
	}
	if spec, _ := brokers.Get(b); e == kauth.Mock && spec.MockURL == "" {
		return "", "", usageErrorf(cmd, "%s has no paper-trading (mock) environment; use --env real", spec.Display)
	}
	return b, e, nil
}

// timeoutFlag registers --timeout, the bound on the whole command.
func timeoutFlag(fs *flagSet) *time.Duration {
	return fs.Duration("timeout", 2*time.Minute,
		"give up after this long (a KIS issuance may have to wait out the broker's once-a-minute limit)")
}

// parseTarget parses args, the flags of a command that calls a broker, and
// returns the broker and environment that t names once the --timeout
// registered by timeoutFlag is known to be positive.
func (fs *flagSet) parseTarget(args []string, t *target, timeout *time.Duration) (kauth.Broker, kauth.Env, error) {
	if err := fs.parse(args); err != nil {
		return "", "", err
	}
	b, e, err := t.parse(fs.cmd)
	if err != nil {
		return "", "", err
	}
	if *timeout <= 0 {
		return "", "", usageErrorf(fs.cmd, "--timeout must be positive, not %v", *timeout)
	}
	return b, e, nil
}

// brokerList names the listed brokers for usage lines: "kis, kiwoom,
// ls or db".
func brokerList() string {
	names := brokers.Names()
	var b strings.Builder
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(n))
	}
	return b.String()
}
