package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// completionFlag is one flag of a command, as the completion scripts need
// it.
type completionFlag struct {
	name   string
	usage  string
	isBool bool
	values []string // the values to offer, if a fixed set
}

// completionCommand is a command and its flags.
type completionCommand struct {
	name, summary string
	flags         []completionFlag
}

// flagValues are the fixed values offered after a flag.
func flagValues(name string) []string {
	switch name {
	case "broker":
		return brokerStrings()
	case "env":
		return []string{"real", "mock"}
	case "log-format":
		return []string{"text", "json"}
	case "log-level":
		return []string{"debug", "info", "warn", "error"}
	case "shell":
		return completionShells
	}
	return nil
}

var completionShells = []string{"bash", "zsh", "fish"}

// commandTable reads every command's flags from the command itself: each
// runs with --help into a discarded output and reports the flag set it
// built, so the completions cannot drift from the commands.
func commandTable(commands []command) ([]completionCommand, error) {
	var out []completionCommand
	for _, cmd := range commands {
		var seen *flagSet
		c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
			getenv: func(string) string { return "" }, onFlags: func(fs *flagSet) { seen = fs }}
		if err := cmd.run(c, context.Background(), []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("kauth completion: %s --help = %v; want the help", cmd.name, err)
		}
		cc := completionCommand{name: cmd.name, summary: cmd.summary}
		if seen != nil {
			seen.VisitAll(func(f *flag.Flag) {
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				cc.flags = append(cc.flags, completionFlag{name: f.Name, usage: firstClause(f.Usage),
					isBool: ok && b.IsBoolFlag(), values: flagValues(f.Name)})
			})
		}
		out = append(out, cc)
	}
	return out, nil
}

// firstClause is the usage up to its first ';' or '(' , for a one-line
// description.
func firstClause(s string) string {
	if i := strings.IndexAny(s, ";("); i > 0 {
		s = s[:i]
	}
	s = strings.ReplaceAll(s, "`", "")
	return strings.TrimSpace(strings.Join(strings.Fields(s), " "))
}

// dashed is how the flag is typed: -v for one letter, --name otherwise.
func (f completionFlag) dashed() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

func (c *cli) completion(ctx context.Context, args []string) error {
	fs := c.flags("completion", "kauth completion bash|zsh|fish", `
Print a completion script for the shell, generated from kauth's own
commands and flags:

  bash  source <(kauth completion bash)      or save it in /etc/bash_completion.d/kauth
  zsh   kauth completion zsh > "${fpath[1]}/_kauth"
  fish  kauth completion fish > ~/.config/fish/completions/kauth.fish`)
	if err := fs.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help(c.stdout)
			return err
		}
		return usageErrorf("completion", "%v; run kauth completion --help", err)
	}
	if fs.NArg() != 1 {
		return usageErrorf("completion", "name one shell: bash, zsh or fish")
	}
	if err := c.log.check("completion"); err != nil {
		return err
	}
	table, err := commandTable(c.commands)
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "bash":
		return writeBash(c.stdout, table)
	case "zsh":
		return writeZsh(c.stdout, table)
	case "fish":
		return writeFish(c.stdout, table)
	}
	return usageErrorf("completion", "unknown shell %q (want bash, zsh or fish)", fs.Arg(0))
}

func commandNames(table []completionCommand) []string {
	var names []string
	for _, c := range table {
		names = append(names, c.name)
	}
	return names
}

func writeBash(w io.Writer, table []completionCommand) error {
	var b strings.Builder
	b.WriteString(`# bash completion for kauth (kauth completion bash)
_kauth() {
    local cur prev cmd
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "` + strings.Join(commandNames(table), " ") + ` help" -- "$cur"))
        return
    fi
    cmd="${COMP_WORDS[1]}"
    case "$prev" in
`)
	values := map[string][]string{}
	for _, c := range table {
		for _, f := range c.flags {
			if f.values != nil {
				values[f.dashed()] = f.values
			}
		}
	}
	var keys []string
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", k, strings.Join(values[k], " "))
	}
	b.WriteString(`        --config|--*-file|--key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    case "$cmd" in
`)
	for _, c := range table {
		var flags []string
		for _, f := range c.flags {
			flags = append(flags, f.dashed())
		}
		words := strings.Join(flags, " ")
		if c.name == "completion" {
			words = strings.Join(append(flags, completionShells...), " ")
		}
		fmt.Fprintf(&b, "        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", c.name, words)
	}
	b.WriteString(`        help) COMPREPLY=($(compgen -W "` + strings.Join(commandNames(table), " ") + `" -- "$cur")) ;;
    esac
}
complete -F _kauth kauth
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote makes s safe inside a single-quoted zsh _arguments spec.
func zshQuote(s string) string {
	return strings.NewReplacer("'", "", "[", "(", "]", ")", ":", " ", "\\", "").Replace(s)
}

func writeZsh(w io.Writer, table []completionCommand) error {
	var b strings.Builder
	b.WriteString("#compdef kauth\n# zsh completion for kauth (kauth completion zsh)\n\n_kauth() {\n    local -a commands\n    commands=(\n")
	for _, c := range table {
		fmt.Fprintf(&b, "        '%s:%s'\n", c.name, zshQuote(c.summary))
	}
	b.WriteString("    )\n    if (( CURRENT == 2 )); then\n        _describe 'command' commands\n        return\n    fi\n    case $words[2] in\n")
	for _, c := range table {
		fmt.Fprintf(&b, "        %s)\n            _arguments", c.name)
		for _, f := range c.flags {
			spec := fmt.Sprintf("%s[%s]", f.dashed(), zshQuote(f.usage))
			switch {
			case f.isBool:
			case f.values != nil:
				spec += fmt.Sprintf(":%s:(%s)", f.name, strings.Join(f.values, " "))
			case f.name == "config" || strings.HasSuffix(f.name, "file"):
				spec += ":" + f.name + ":_files"
			default:
				spec += ":" + f.name + ": "
			}
			fmt.Fprintf(&b, " \\\n                '%s'", spec)
		}
		if c.name == "completion" {
			fmt.Fprintf(&b, " \\\n                '1:shell:(%s)'", strings.Join(completionShells, " "))
		}
		b.WriteString("\n            ;;\n")
	}
	b.WriteString("    esac\n}\n\nif [ \"$funcstack[1]\" = \"_kauth\" ]; then\n    _kauth \"$@\"\nelse\n    compdef _kauth kauth\nfi\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fishQuote makes s safe inside a single-quoted fish string.
func fishQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func writeFish(w io.Writer, table []completionCommand) error {
	var b strings.Builder
	b.WriteString("# fish completion for kauth (kauth completion fish)\ncomplete -c kauth -f\n")
	for _, c := range table {
		fmt.Fprintf(&b, "complete -c kauth -n '__fish_use_subcommand' -a %s -d '%s'\n", c.name, fishQuote(c.summary))
	}
	for _, c := range table {
		cond := "__fish_seen_subcommand_from " + c.name
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			line := fmt.Sprintf("complete -c kauth -n '%s' %s -d '%s'", cond, opt, fishQuote(f.usage))
			switch {
			case f.isBool:
			case f.values != nil:
				line += fmt.Sprintf(" -x -a '%s'", strings.Join(f.values, " "))
			case f.name == "config" || strings.HasSuffix(f.name, "file"):
				line += " -r -F"
			default:
				line += " -x"
			}
			b.WriteString(line + "\n")
		}
		if c.name == "completion" {
			fmt.Fprintf(&b, "complete -c kauth -n '%s' -x -a '%s'\n", cond, strings.Join(completionShells, " "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
