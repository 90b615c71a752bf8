// Package benchagent starts the agent the load tools measure.
package benchagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/kauth/kauth/agent"
)

// Agent is a served agent, its base URL and its key.
type Agent struct {
	*agent.Agent
	URL, Key string
	served   chan error
}

// Serve starts an agent for cfg on a free loopback TCP port, with its key
// file in dir and no socket, until ctx is done, and returns it once it is
// ready. The caller closes it.
func Serve(ctx context.Context, cfg agent.Config, dir string, opts agent.Options) (*Agent, error) {
	cfg.Listen = agent.Listen{Socket: agent.SocketOff, TCP: "127.0.0.1:0", KeyFile: filepath.Join(dir, "agent.key")}
	a, err := agent.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	s := &Agent{Agent: a, served: make(chan error, 1)}
	go func() { s.served <- a.ListenAndServe(ctx) }()
	select {
	case <-a.Ready():
	case err := <-s.served:
		a.Close()
		return nil, err
	}
	ep := a.Endpoints()
	b, err := os.ReadFile(ep.KeyFile)
	if err != nil {
		a.Close()
		return nil, err
	}
	s.URL, s.Key = "http://"+ep.TCP, strings.TrimSpace(string(b))
	return s, nil
}

// Wait returns what serving ended with, once ctx is done.
func (s *Agent) Wait() error { return <-s.served }
