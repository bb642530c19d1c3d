package cli

import (
	"flag"
	"fmt"
	"strings"
)

// runCompletion prints a bash completion script: command names, then
// service names from the daemon (`tails-server list`) for the commands
// that take one.
func runCompletion(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("completion", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "bash" {
		return usageErr("completion takes the shell's name: bash")
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	fmt.Fprintf(e.stdout, `# bash completion for tails-server; load with: source <(tails-server completion bash)
_tails_server() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W %q -- "$cur"))
		return
	fi
	case "$cmd" in
	info|status|enable|disable|remove|get-option|set-option|logs|share)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "$(tails-server -o json list 2>/dev/null | sed -n 's/.*"name": "\([^"]*\)".*/\1/p')" -- "$cur"))
		fi ;;
	client)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "add remove list show" -- "$cur")) ;;
	testnet)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "up down env client" -- "$cur")) ;;
	isolation)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "torrc apps run audit proxy bench" -- "$cur")) ;;
	esac
}
complete -F _tails_server tails-server
`, strings.Join(names, " "))
	return nil
}
