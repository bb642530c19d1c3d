package cli

import (
	"flag"
	"fmt"

	"tails-server/internal/apitype"
)

// runMessages lists the messages visitors left with a service (fileshare
// with its messages option on), newest first, or deletes one.
func runMessages(e *env, args []string) error {
	fs := flag.NewFlagSet("messages", flag.ContinueOnError)
	del := fs.String("delete", "", "delete the message with this ID (as the list shows it)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("messages", pos, 1, "one service name"); err != nil {
		return err
	}
	deleting := false
	fs.Visit(func(f *flag.Flag) { deleting = deleting || f.Name == "delete" })
	if deleting {
		if err := apitype.CheckMessageID(*del); err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("messages --delete: %w", err),
				hint: fmt.Sprintf("`tails-server messages %s` lists the messages with their IDs", pos[0])}
		}
		r, err := e.client().DeleteMessage(e.ctx, pos[0], *del)
		if err != nil {
			return err
		}
		return e.print(r)
	}
	l, err := e.client().ListMessages(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return e.print(l)
}
