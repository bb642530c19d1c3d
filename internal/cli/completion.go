package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// runCompletion prints a bash completion script: command names, their
// verbs, then service names from the daemon (`list`) for the commands
// that take one. The script runs the binary that printed it (its
// absolute path), so that names complete for bin/tails-server as well as
// for a tails-server on PATH.
func runCompletion(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("completion", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "bash" {
		return usageErr("completion takes the shell's name: bash")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("completion: cannot find this program's own path: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	_, err = fmt.Fprint(e.stdout, bashCompletion(exe))
	return err
}

// shellQuote quotes s as one word for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bashCompletion is the script for the binary at exe, from the command
// table: the commands and verbs whose arguments start with SERVICE
// complete service names.
func bashCompletion(exe string) string {
	var names, takesService []string
	var verbCases strings.Builder
	for _, c := range commands {
		names = append(names, c.name)
		if strings.HasPrefix(c.args, "SERVICE") {
			takesService = append(takesService, c.name)
		}
		if len(c.subs) == 0 {
			continue
		}
		var svcVerbs []string
		for _, s := range c.subs {
			if strings.HasPrefix(s.args, "SERVICE") {
				svcVerbs = append(svcVerbs, s.name)
			}
		}
		fmt.Fprintf(&verbCases, "\t%s)\n\t\tif [ \"$n\" -eq 1 ]; then\n\t\t\tCOMPREPLY=($(compgen -W %s -- \"$cur\"))\n", c.name, shellQuote(strings.Join(c.subNames(), " ")))
		if len(svcVerbs) > 0 {
			fmt.Fprintf(&verbCases, "\t\telif [ \"$n\" -eq 2 ]; then\n\t\t\tcase \"${COMP_WORDS[i+1]}\" in %s) _tails_server_names ;; esac\n", strings.Join(svcVerbs, "|"))
		}
		verbCases.WriteString("\t\tfi ;;\n")
	}
	// Register the command name and the binary's own path and name.
	reg := []string{"tails-server", shellQuote(exe)}
	if b := filepath.Base(exe); b != "tails-server" {
		reg = append(reg, shellQuote(b))
	}
	return fmt.Sprintf(`# bash completion for tails-server (%[1]s); load with: source <(%[1]s completion bash)
# _tails_server_names completes $cur with the daemon's service names, asking
# the daemon the command line names with --socket, if any.
_tails_server_names() {
	local j sock=() bin=%[1]s
	for ((j = 1; j < COMP_CWORD; j++)); do
		case "${COMP_WORDS[j]}" in
		--socket|-socket) sock=(--socket "${COMP_WORDS[j+1]}") ;;
		esac
	done
	COMPREPLY=($(compgen -W "$("$bin" "${sock[@]}" -o json list 2>/dev/null | sed -n 's/^ *"name": "\([^"]*\)".*/\1/p')" -- "$cur"))
}
_tails_server() {
	local cur=${COMP_WORDS[COMP_CWORD]} i=1
	# Skip the global flags before the command.
	while [ "$i" -lt "$COMP_CWORD" ]; do
		case "${COMP_WORDS[i]}" in
		--socket|-socket|-o|--o) i=$((i + 2)) ;;
		-*) i=$((i + 1)) ;;
		*) break ;;
		esac
	done
	local n=$((COMP_CWORD - i))
	if [ "$n" -eq 0 ]; then
		COMPREPLY=($(compgen -W %[2]s -- "$cur"))
		return
	fi
	case "${COMP_WORDS[i]}" in
	%[3]s)
		[ "$n" -eq 1 ] && _tails_server_names ;;
%[4]s	esac
}
complete -F _tails_server %[5]s
`, shellQuote(exe), shellQuote(strings.Join(names, " ")), strings.Join(takesService, "|"), verbCases.String(), strings.Join(reg, " "))
}
