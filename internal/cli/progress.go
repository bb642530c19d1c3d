package cli

import (
	"fmt"
	"io"
	"strings"

	"tails-server/internal/apitype"
)

// progressBar shows the steps of a long operation: on a terminal, one line
// redrawn in place with a bar when the step has a percentage (a step that
// starts with "note: " or "warning: " gets a line of its own, which
// stays); elsewhere (a script, SSH without a TTY), one plain line per
// step.
type progressBar struct {
	w    io.Writer
	tty  bool
	last string
	open bool
}

func newProgressBar(w io.Writer, tty bool) *progressBar { return &progressBar{w: w, tty: tty} }

func (b *progressBar) show(p apitype.Progress) {
	step := p.Text()
	line := step
	if p.Percent != nil {
		const width = 24
		n := int(*p.Percent / 100 * width)
		n = max(0, min(width, n))
		line = fmt.Sprintf("[%s%s] %3.0f%% %s", strings.Repeat("#", n), strings.Repeat(" ", width-n), *p.Percent, step)
	}
	if line == b.last {
		return
	}
	b.last = line
	if !b.tty {
		fmt.Fprintf(b.w, "%s: %s\n", p.Service, line)
		return
	}
	if strings.HasPrefix(step, "note: ") || strings.HasPrefix(step, "warning: ") {
		// What was changed on the system, or should be looked at:
		// it stays on the screen instead of being redrawn over.
		fmt.Fprintf(b.w, "\r\033[K%s: %s\n", p.Service, step)
		b.open = false
		return
	}
	if len(line) > 78 {
		line = line[:78]
	}
	fmt.Fprintf(b.w, "\r\033[K%s", line)
	b.open = true
}

func (b *progressBar) done() {
	if b.open {
		fmt.Fprint(b.w, "\r\033[K")
		b.open = false
	}
}
