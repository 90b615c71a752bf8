package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kauth/kauth/agent"
)

// systemConfig is the config file of a system-wide agent, the last place
// kauth looks.
const systemConfig = "/etc/kauth/kauth.yaml"

// configSource says where a config file was found.
type configSource struct {
	path string // "" when no file applies
	from string // "--config", "KAUTH_CONFIG", "XDG_CONFIG_HOME", "HOME", "system"
}

// findConfig returns the config file that applies: flag (--config), else
// $KAUTH_CONFIG, else $XDG_CONFIG_HOME/kauth/kauth.yaml ($HOME/.config when
// XDG_CONFIG_HOME is unset), else /etc/kauth/kauth.yaml. A file named by
// the flag or the variable must exist (LoadConfig says so); the other two
// apply only if they exist. With none, path is "" and the accounts come
// from the environment. exists is os.Stat's verdict, injected for tests.
func findConfig(flag string, getenv func(string) string, exists func(string) (bool, error)) (configSource, error) {
	if flag != "" {
		return configSource{flag, "--config"}, nil
	}
	if p := strings.TrimSpace(getenv("KAUTH_CONFIG")); p != "" {
		return configSource{p, "KAUTH_CONFIG"}, nil
	}
	for _, c := range implicitConfigs(getenv) {
		ok, err := exists(c.path)
		if err != nil {
			return configSource{}, configErrorf("kauth: config %s: %v", c.path, innermost(err))
		}
		if ok {
			return c, nil
		}
	}
	return configSource{}, nil
}

// implicitConfigs are the files findConfig tries when neither --config
// nor KAUTH_CONFIG names one, in order.
func implicitConfigs(getenv func(string) string) []configSource {
	var candidates []configSource
	// XDG Base Directory: a relative XDG_CONFIG_HOME is invalid and ignored.
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		candidates = append(candidates, configSource{filepath.Join(x, "kauth", "kauth.yaml"), "XDG_CONFIG_HOME"})
	} else if h := getenv("HOME"); filepath.IsAbs(h) {
		candidates = append(candidates, configSource{filepath.Join(h, ".config", "kauth", "kauth.yaml"), "HOME"})
	}
	return append(candidates, configSource{systemConfig, "system"})
}

// configCandidates names the files that implicitConfigs tries.
func configCandidates(getenv func(string) string) []string {
	var paths []string
	for _, c := range implicitConfigs(getenv) {
		paths = append(paths, c.path)
	}
	return paths
}

// statExists is findConfig's exists on the real file system: a missing
// file is no error, an unreadable directory is.
func statExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// discoverConfig finds and loads the config that applies (findConfig). An
// empty source means none does.
func (c *cli) discoverConfig(flag string) (configSource, agent.Config, error) {
	src, err := findConfig(flag, c.getenv, statExists)
	if err != nil || src.path == "" {
		return src, agent.Config{}, err
	}
	cfg, err := agent.LoadConfig(src.path)
	if err != nil {
		return src, agent.Config{}, &configError{err}
	}
	return src, cfg, nil
}
