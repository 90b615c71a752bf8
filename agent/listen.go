package agent

import "github.com/kauth/kauth/agent/internal/listen"

// DefaultSocketPath returns where the agent's unix socket lives when the
// config does not say: $XDG_RUNTIME_DIR/kauth/agent.sock (a per-user 0700
// directory that the system clears at logout), else agent.sock in the state
// directory ($KAUTH_CACHE_DIR, else the user cache directory + /kauth, as
// for the token cache).
func DefaultSocketPath(getenv func(string) string) (string, error) {
	return listen.DefaultSocketPath(getenv)
}

// DefaultKeyFile returns where the agent key lives when the config does not
// say: agent.key in the state directory ($KAUTH_CACHE_DIR, else the user
// cache directory + /kauth), e.g. ~/.cache/kauth/agent.key on Linux. It
// outlives logouts so that bots keep working across agent restarts.
func DefaultKeyFile(getenv func(string) string) (string, error) {
	return listen.DefaultKeyFile(getenv)
}
