package tor

import (
	"fmt"
	"strings"
)

// FilteredError is a command refused by a control-port filter in front
// of tor: Tails' onion-grater answers "510 Command filtered" to every
// command its profiles do not allow (tor itself says 510 only for a
// command it does not know: "Unrecognized command"). It wraps the
// *ReplyError.
type FilteredError struct {
	Command string // the refused command's name, e.g. "ADD_ONION"
	Hint    string // how to let it through (see OnFiltered), or ""
	reply   *ReplyError
}

// Error returns one line: what was refused, and the hint.
func (e *FilteredError) Error() string {
	s := fmt.Sprintf("the control port filter refused %s (%d %s)", e.Command, e.reply.Code, e.reply.Text)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns tor's reply (the filter's, in tor's stead).
func (e *FilteredError) Unwrap() error { return e.reply }

// OnFiltered sets the hint that every FilteredError of this connection
// carries, and a function called with each (in the goroutine of the
// command), for instance to log it. Either may be empty.
func (c *Conn) OnFiltered(hint string, report func(*FilteredError)) {
	c.mu.Lock()
	c.filterHint, c.filterReport = hint, report
	c.mu.Unlock()
}

// filtered turns a filter's refusal of line into a *FilteredError, and
// returns other errors as they are.
func (c *Conn) filtered(line string, err error) error {
	re, ok := err.(*ReplyError)
	if !ok || re.Code != 510 || !strings.EqualFold(strings.TrimSpace(re.Text), "Command filtered") {
		return err
	}
	cmd, _, _ := strings.Cut(line, " ")
	c.mu.Lock()
	fe := &FilteredError{Command: strings.ToUpper(cmd), Hint: c.filterHint, reply: re}
	report := c.filterReport
	c.mu.Unlock()
	if report != nil {
		report(fe)
	}
	return fe
}
