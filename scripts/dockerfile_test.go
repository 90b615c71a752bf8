package scripts_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kauth/kauth/agent"
)

// instruction is one Dockerfile instruction: its keyword and the rest of
// its (joined) lines.
type instruction struct{ cmd, args string }

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continued lines and dropping comments. The ARGs before the first FROM are
// stage -1's, returned as args.
func parseDockerfile(t *testing.T, path string) (args map[string]string, stages [][]instruction) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	args = map[string]string{}
	var cur string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		cur += trimmed
		cmd, rest, _ := strings.Cut(cur, " ")
		cur = ""
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(rest), " ")}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, []instruction{in})
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case len(stages) == 0:
			t.Fatalf("%s: %s before the first FROM", path, in.cmd)
		default:
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return args, stages
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm parses an exec-form (JSON array) argument list.
func execForm(t *testing.T, what, s string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s %s: want the exec form [\"…\"] (the image has no shell): %v", what, s, err)
	}
	return v
}

// TestDockerfile checks what a docker build cannot be run here to show: the
// image's binary is built by scripts/build.sh, as make dist builds it; the
// final image is distroless static, runs as uid 65532, starts kauth serve
// with the config at /etc/kauth/kauth.yaml and the state in a volume, and
// checks its health with kauth health on the port it exposes, which is the
// port examples/docker's config listens on.
func TestDockerfile(t *testing.T) {
	r := root(t)
	args, stages := parseDockerfile(t, filepath.Join(r, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages; want 2 (build, image)", len(stages))
	}
	build, image := stages[0], stages[1]
	if !strings.HasSuffix(build[0].args, " AS build") {
		t.Errorf("first stage FROM %s; want it named build", build[0].args)
	}
	if g := args["GO_IMAGE"]; !strings.HasPrefix(g, "golang:") {
		t.Errorf("ARG GO_IMAGE=%s; want a golang image", g)
	}

	// The build: scripts/build.sh, which make dist's scripts/dist.sh runs
	// too, and no go build of its own that could differ from it.
	runs := find(build, "RUN")
	buildRE := regexp.MustCompile(`^GOOS=\$\{TARGETOS\} GOARCH=\$\{TARGETARCH\} VERSION=\$\{VERSION\} COMMIT=\$\{COMMIT\} SOURCE_DATE_EPOCH=\$\{SOURCE_DATE_EPOCH\} scripts/build.sh /out/kauth$`)
	if !slices.ContainsFunc(runs, buildRE.MatchString) {
		t.Errorf("build stage RUNs %q; want one matching %v", runs, buildRE)
	}
	for _, run := range runs {
		if strings.Contains(run, "go build") {
			t.Errorf("build stage runs %q; want the build in scripts/build.sh only", run)
		}
	}
	for _, a := range []string{"VERSION=devel", "COMMIT=unknown", "SOURCE_DATE_EPOCH=0", "TARGETOS", "TARGETARCH"} {
		if !slices.Contains(find(build, "ARG"), a) {
			t.Errorf("build stage has no ARG %s", a)
		}
	}
	dist, err := os.ReadFile(filepath.Join(r, "scripts", "dist.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*GOOS=\$os GOARCH=\$arch GO=\$GO scripts/build.sh "\$stage/\$name/\$exe"$`).Match(dist) {
		t.Errorf("scripts/dist.sh does not build each target with scripts/build.sh")
	}
	mk, err := os.ReadFile(filepath.Join(r, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^dist:\n\t.*scripts/dist\.sh`).Match(mk) {
		t.Errorf("the Makefile's dist target does not run scripts/dist.sh")
	}

	// The image.
	if image[0].args != "${BASE_IMAGE}" || !regexp.MustCompile(`^gcr\.io/distroless/static-\S+:nonroot$`).MatchString(args["BASE_IMAGE"]) {
		t.Errorf("image FROM %s (BASE_IMAGE=%s); want distroless static, nonroot", image[0].args, args["BASE_IMAGE"])
	}
	if u := find(image, "USER"); !slices.Equal(u, []string{"65532:65532"}) {
		t.Errorf("image USER %q; want 65532:65532 (non-root)", u)
	}
	if c := find(image, "COPY"); !slices.Contains(c, "--from=build /out/kauth /usr/local/bin/kauth") ||
		!slices.Contains(c, "--from=build --chown=65532:65532 /out/state /var/lib/kauth") {
		t.Errorf("image COPYs %q; want the binary and a state directory the user owns", c)
	}
	if e := find(image, "ENV"); !slices.Contains(e, "KAUTH_CACHE_DIR=/var/lib/kauth") {
		t.Errorf("image ENV %q; want KAUTH_CACHE_DIR=/var/lib/kauth", e)
	}
	if v := find(image, "VOLUME"); !slices.Equal(v, []string{`["/var/lib/kauth"]`}) {
		t.Errorf("image VOLUME %q; want the state directory", v)
	}
	if e := find(image, "ENTRYPOINT"); len(e) != 1 || !slices.Equal(execForm(t, "ENTRYPOINT", e[0]), []string{"kauth"}) {
		t.Errorf("image ENTRYPOINT %q; want [\"kauth\"]", e)
	}
	if c := find(image, "CMD"); len(c) != 1 || !slices.Equal(execForm(t, "CMD", c[0]), []string{"serve", "--config", "/etc/kauth/kauth.yaml"}) {
		t.Errorf("image CMD %q; want kauth serve with /etc/kauth/kauth.yaml", c)
	}
	expose := find(image, "EXPOSE")
	if len(expose) != 1 {
		t.Fatalf("image EXPOSEs %q; want one port", expose)
	}
	hc := find(image, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("image has %d HEALTHCHECKs; want 1", len(hc))
	}
	_, probe, ok := strings.Cut(hc[0], " CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: want a CMD", hc[0])
	}
	want := []string{"kauth", "health", "--addr", "127.0.0.1:" + expose[0], "--timeout", "4s"}
	if got := execForm(t, "HEALTHCHECK CMD", probe); !slices.Equal(got, want) {
		t.Errorf("HEALTHCHECK CMD %q; want %q (the exposed port)", got, want)
	}

	// examples/docker's config listens where the image expects it.
	cfg, err := agent.LoadConfig(filepath.Join(r, "examples", "docker", "kauth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.TCP != "0.0.0.0:"+expose[0] || !cfg.Listen.AllowNonLoopback || cfg.Listen.Socket != agent.SocketOff {
		t.Errorf("examples/docker/kauth.yaml listens on tcp %q (allow_non_loopback %v), socket %q; want 0.0.0.0:%s, allowed, no socket",
			cfg.Listen.TCP, cfg.Listen.AllowNonLoopback, cfg.Listen.Socket, expose[0])
	}
	compose, err := os.ReadFile(filepath.Join(r, "examples", "docker", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range cfg.Listen.AllowedHosts {
		if !strings.Contains(string(compose), "http://"+h+":"+expose[0]+"/") {
			t.Errorf("examples/docker/kauth.yaml allows Host %s, which its compose file does not call", h)
		}
	}
	for _, s := range []string{"dockerfile: Dockerfile", "./kauth.yaml:/etc/kauth/kauth.yaml:ro", ":/var/lib/kauth", `"127.0.0.1:` + expose[0] + ":" + expose[0] + `"`} {
		if !strings.Contains(string(compose), s) {
			t.Errorf("examples/docker/docker-compose.yml does not contain %q", s)
		}
	}

	ignore, err := os.ReadFile(filepath.Join(r, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git", "dist"} {
		if !slices.Contains(strings.Split(string(ignore), "\n"), p) {
			t.Errorf(".dockerignore does not leave out %s", p)
		}
	}
}
