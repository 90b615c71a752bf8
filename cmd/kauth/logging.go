package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
)

// logSettings are the --log-format and --log-level flags that every
// command takes.
type logSettings struct {
	format string // "text" or "json"
	level  string // "" (the command's default), debug, info, warn, error
}

// register adds the flags to fs.
func (s *logSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.format, "log-format", "text", "log lines as text (key=value) or json (one JSON object per line), on stderr")
	fs.StringVar(&s.level, "log-level", "", "log at this level and above: debug, info, warn or error (default: info for serve, nothing for other commands)")
}

// check validates the flags after parsing.
func (s *logSettings) check(cmd string) error {
	switch s.format {
	case "text", "json":
	default:
		return usageErrorf(cmd, "--log-format %q: want text or json", s.format)
	}
	if s.level != "" {
		if _, err := parseLevel(s.level); err != nil {
			return usageErrorf(cmd, "--log-level %q: want debug, info, warn or error", s.level)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.ToLower(s)))
	return l, err
}

// newLogger returns a logger writing to w in the chosen format, at the
// chosen level, else at def. With quiet and no --log-level, it discards
// everything: a command's error is then one line on stderr.
func (s *logSettings) newLogger(w io.Writer, def slog.Level, quiet bool) *slog.Logger {
	level := def
	if s.level != "" {
		level, _ = parseLevel(s.level) // checked after parsing
	} else if quiet {
		return slog.New(slog.DiscardHandler)
	}
	opts := &slog.HandlerOptions{Level: level}
	w = &syncWriter{w: w}
	if s.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
