package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// completionShells are the shells `completion` writes a script for.
var completionShells = []string{"bash", "zsh", "fish"}

// runCompletion prints the completion script of a shell. Every script
// asks the program itself what to offer (`__complete`, see complete.go),
// so that commands, verbs and flags come from the command table and the
// names of services, clients and options from the daemon. The script runs
// the binary that printed it (its absolute path), so that names complete
// for bin/tails-server as well as for a tails-server on PATH; --bin names
// another (a package's scripts say `--bin tails-server`).
func runCompletion(e *env, args []string) error {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	bin := fs.String("bin", "", "the program the script runs to complete, by path or by name on PATH (default: this program's absolute path)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("completion takes the shell's name: %s", strings.Join(completionShells, ", "))
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("completion: cannot find this program's own path: %w", err)
		}
		if exe, err = filepath.Abs(exe); err != nil {
			return fmt.Errorf("completion: %w", err)
		}
	}
	if strings.ContainsAny(exe, "\n\r") {
		return usageErr("completion: --bin holds a line break")
	}
	var script string
	switch pos[0] {
	case "bash":
		script = bashCompletion(exe)
	case "zsh":
		script = zshCompletion(exe)
	case "fish":
		script = fishCompletion(exe)
	default:
		return usageErr("completion: unknown shell %q: use %s", pos[0], strings.Join(completionShells, ", "))
	}
	_, err = fmt.Fprint(e.stdout, script)
	return err
}

// shellQuote quotes s as one word for a POSIX shell (and zsh).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fishQuote quotes s as one word for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// completedNames are the command names a script registers for: the
// program's name, and the binary's path and base name.
func completedNames(exe string, quote func(string) string) string {
	reg := []string{"tails-server"}
	if exe != "tails-server" {
		reg = append(reg, quote(exe))
	}
	if b := filepath.Base(exe); b != "tails-server" && b != exe {
		reg = append(reg, quote(b))
	}
	return strings.Join(reg, " ")
}

// bashCompletion is the bash script for the binary at exe.
func bashCompletion(exe string) string {
	return fmt.Sprintf(`# bash completion for tails-server; load with: source <(%[1]s completion bash)
# It asks %[1]s __complete for the candidates of the word under the cursor.
_tails_server() {
	local IFS=$'\n' line cur=${COMP_WORDS[COMP_CWORD]}
	local -a out
	out=($(%[1]s __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
	COMPREPLY=()
	for line in "${out[@]}"; do
		if [ "$line" = %[2]s ]; then
			compopt -o filenames 2>/dev/null || true
			COMPREPLY+=($(compgen -f -- "$cur"))
		else
			COMPREPLY+=("${line%%%%$'\t'*}")
		fi
	done
}
complete -F _tails_server %[3]s
`, shellQuote(exe), completeFile, completedNames(exe, shellQuote))
}

// zshCompletion is the zsh script for the binary at exe: a file for fpath
// (_tails-server) or a script to source after compinit.
func zshCompletion(exe string) string {
	return fmt.Sprintf(`#compdef tails-server
# zsh completion for tails-server: put it as _tails-server in a directory of
# $fpath, or load it after compinit with: source <(%[1]s completion zsh)
# It asks %[1]s __complete for the candidates of the word under the cursor.
_tails-server() {
	local line
	local -a out cands descs
	out=("${(@f)$(%[1]s __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	for line in "${out[@]}"; do
		[[ -z $line ]] && continue
		if [[ $line == %[2]s ]]; then
			_files
			continue
		fi
		cands+=("${line%%%%$'\t'*}")
		if [[ $line == *$'\t'* ]]; then
			descs+=("${line%%%%$'\t'*}  -- ${line#*$'\t'}")
		else
			descs+=("$line")
		fi
	done
	(( ${#cands} )) && compadd -l -d descs -a cands
}
if [[ $funcstack[1] == _tails-server ]]; then
	_tails-server "$@"
else
	compdef _tails-server %[3]s
fi
`, shellQuote(exe), completeFile, completedNames(exe, shellQuote))
}

// fishCompletion is the fish script for the binary at exe.
func fishCompletion(exe string) string {
	var reg strings.Builder
	for _, name := range strings.Fields(completedNames(exe, func(s string) string { return s })) {
		fmt.Fprintf(&reg, "complete -c %s -f -a '(__tails_server_complete)'\n", fishQuote(name))
	}
	return fmt.Sprintf(`# fish completion for tails-server; load with: %[1]s completion fish | source
# It asks %[1]s __complete for the candidates of the token under the cursor.
function __tails_server_complete
	set -l words (commandline -opc) (commandline -ct)
	set -e words[1]
	for line in (%[1]s __complete -- $words 2>/dev/null)
		if test "$line" = %[2]s
			__fish_complete_path (commandline -ct)
		else
			printf '%%s\n' $line
		end
	end
end
%[3]s`, fishQuote(exe), completeFile, reg.String())
}
