// Package health keeps a service's record of its reachability self-checks:
// when each ran (UTC), whether it passed, how long it took and which step
// failed. The record is one text file in the service's root, so that
// persistence keeps or drops it with the service; it holds no visitor
// data (no address, no client, nothing a visitor sent).
//
// Bounds: checks older than Keep (7 days) are dropped, and at most
// MaxEntries (10080, a week of checks at a 1-minute interval) are kept,
// the oldest dropped first; an error text is cut to its last MaxErrorLen bytes.
// The file is appended to one whole line per write (O_APPEND) and
// rewritten atomically (a temporary file renamed over it) once it holds
// an eighth more than its bound or a day more than Keep, so it never
// exceeds about MaxEntries*9/8 lines (~3.3 MiB at the longest errors,
// ~300 KiB when the checks pass).
//
// A file that does not parse is renamed aside (NAME.corrupt-TIME) with a
// warning and a new record begins: a damaged record never stops the
// daemon. A last line cut short by a crash is dropped silently, and the
// file rewritten without it.
package health

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tails-server/internal/safefs"
	"tails-server/internal/store"
)

// Bounds of a record.
const (
	// Keep is how long a check stays in the record.
	Keep = 7 * 24 * time.Hour
	// MaxEntries is the most checks a record keeps.
	MaxEntries = 10080
	// MaxErrorLen is the most bytes of a failed check's error kept.
	MaxErrorLen = 240
	// MaxFailures is how many of the last failures Failures returns.
	MaxFailures = 10
	// maxFileSize caps what is read of the file (a larger one is corrupt).
	maxFileSize = 4 << 20
)

// FileName is the record's file name inside the service's root.
const FileName = "health.log"

// header is the record's first line, naming its format.
const header = "tails-server health v1"

// Steps a check can fail at.
const (
	StepChecker  = "checker"  // the daemon's checker tor was not ready
	StepConnect  = "connect"  // tor could not reach the onion (descriptor, introduction, rendezvous)
	StepProtocol = "protocol" // connected, but the service did not answer as it should
	StepOther    = "other"
)

var steps = []string{"", StepChecker, StepConnect, StepProtocol, StepOther}

func stepIndex(s string) uint8 {
	for i, v := range steps {
		if v == s {
			return uint8(i)
		}
	}
	return uint8(len(steps) - 1)
}

// Entry is one self-check.
type Entry struct {
	Time    time.Time
	OK      bool
	Latency time.Duration
	// Step is where a failed check failed (Step* constants), "" when it
	// passed.
	Step  string
	Error string
}

// entry is an Entry as kept in memory, without its error: 8 bytes, so
// that a full record takes 79 KiB (Unix seconds fit 32 bits until 2106;
// a latency is capped at MaxLatency).
type entry struct {
	unix uint32
	ms   uint16
	ok   bool
	step uint8
}

// MaxLatency is the longest latency a record holds (a check gives up
// after 60 s).
const MaxLatency = 65535 * time.Millisecond

// Record is one service's record. Its methods are safe for concurrent use.
type Record struct {
	path func() string
	warn func(string)

	mu       sync.Mutex
	loaded   bool
	entries  []entry
	failures []Entry // newest last, at most MaxFailures
	lines    int     // entry lines in the file
	oldest   uint32  // the file's oldest entry (unix seconds)
}

// New returns the record whose file is at path() (asked at every write,
// so that a service moved to another root is followed). warn reports a
// record rotated aside or a write that failed; it may be nil.
func New(path func() string, warn func(string)) *Record {
	if warn == nil {
		warn = func(string) {}
	}
	return &Record{path: path, warn: warn}
}

// load reads the file once. Called with r.mu held.
func (r *Record) load(now time.Time) {
	if r.loaded {
		return
	}
	r.loaded = true
	path := r.path()
	b, err := safefs.ReadFile(filepath.Dir(path), filepath.Base(path), maxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		var cut bool
		cut, err = r.parse(b)
		if err == nil {
			r.prune(now)
			if cut {
				r.rewrite()
			}
			return
		}
	}
	r.entries, r.failures, r.lines = nil, nil, 0
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		r.warn(fmt.Sprintf("health record %s: %v; and it could not be moved aside: %v", path, err, rerr))
		return
	}
	r.warn(fmt.Sprintf("health record %s: %v; moved aside to %s, a new record begins", path, err, aside))
}

// parse reads b into r; cut reports a last line without its newline
// (dropped).
func (r *Record) parse(b []byte) (cut bool, err error) {
	first, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || string(first) != header {
		return false, errors.New("malformed header at line 1")
	}
	for n := 2; len(rest) > 0; n++ {
		line, tail, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return true, nil
		}
		rest = tail
		e, err := parseLine(string(line))
		if err != nil {
			return false, fmt.Errorf("malformed check at line %d", n)
		}
		r.add(e)
		r.lines++
	}
	return false, nil
}

// parseLine reads "UNIX ok|fail MS STEP [ERROR]".
func parseLine(s string) (Entry, error) {
	f := strings.SplitN(s, " ", 5)
	if len(f) < 4 {
		return Entry{}, errors.New("short")
	}
	unix, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || unix < 0 || unix > 1<<32-1 {
		return Entry{}, errors.New("time")
	}
	ms, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return Entry{}, errors.New("latency")
	}
	e := Entry{Time: time.Unix(unix, 0).UTC(), Latency: time.Duration(ms) * time.Millisecond}
	switch f[1] {
	case "ok":
		e.OK = true
	case "fail":
	default:
		return Entry{}, errors.New("result")
	}
	if f[3] != "-" {
		e.Step = f[3]
	}
	if stepIndex(e.Step) == uint8(len(steps)-1) && e.Step != StepOther {
		return Entry{}, errors.New("step")
	}
	if len(f) == 5 {
		e.Error = f[4]
	}
	return e, nil
}

// formatLine is parseLine's inverse, one line with its newline.
func formatLine(e Entry) string {
	res, step := "ok", "-"
	if !e.OK {
		res = "fail"
		if e.Step != "" {
			step = e.Step
		}
	}
	s := fmt.Sprintf("%d %s %d %s", e.Time.Unix(), res, e.Latency.Milliseconds(), step)
	if !e.OK && e.Error != "" {
		s += " " + e.Error
	}
	return s + "\n"
}

// clean keeps e's fields within what a line can hold.
func clean(e Entry) Entry {
	e.Time = e.Time.UTC().Truncate(time.Second)
	if e.Latency < 0 {
		e.Latency = 0
	}
	e.Latency = min(e.Latency, MaxLatency)
	if e.OK {
		e.Step, e.Error = "", ""
		return e
	}
	if e.Step == "" {
		e.Step = StepOther
	}
	e.Step = steps[stepIndex(e.Step)]
	msg := []rune(strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, e.Error))
	// The reason is at the end of an error ("socks: connect to X via Y:
	// host unreachable"): keep that.
	cut := false
	for len(string(msg)) > MaxErrorLen-len("…") {
		msg, cut = msg[1:], true
	}
	e.Error = strings.TrimSpace(string(msg))
	if cut {
		e.Error = "…" + e.Error
	}
	return e
}

// add keeps e in memory. Called with r.mu held.
func (r *Record) add(e Entry) {
	unix := uint32(min(max(e.Time.Unix(), 0), 1<<32-1))
	if r.lines == 0 || unix < r.oldest {
		r.oldest = unix
	}
	ms := uint16(min(e.Latency, MaxLatency).Milliseconds())
	r.entries = append(r.entries, entry{unix: unix, ms: ms, ok: e.OK, step: stepIndex(e.Step)})
	if !e.OK {
		r.failures = append(r.failures, e)
		if len(r.failures) > MaxFailures {
			r.failures = append(r.failures[:0], r.failures[len(r.failures)-MaxFailures:]...)
		}
	}
}

// prune drops what is out of bounds from memory. Called with r.mu held.
func (r *Record) prune(now time.Time) {
	cutoff := uint32(max(now.Add(-Keep).Unix(), 0))
	i := 0
	for i < len(r.entries) && r.entries[i].unix < cutoff {
		i++
	}
	i = max(i, len(r.entries)-MaxEntries)
	if i > 0 {
		r.entries = append(r.entries[:0], r.entries[i:]...)
	}
	j := 0
	for j < len(r.failures) && r.failures[j].Time.Unix() < int64(cutoff) {
		j++
	}
	r.failures = r.failures[j:]
}

// Append records one check: appended to the file as one line, or the
// file rewritten without what is out of bounds.
func (r *Record) Append(e Entry, now time.Time) error {
	e = clean(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load(now)
	r.add(e)
	r.prune(now)
	if r.lines+1 > MaxEntries+MaxEntries/8 || int64(r.oldest) < now.Add(-Keep-24*time.Hour).Unix() {
		return r.rewrite()
	}
	if err := r.appendLine(formatLine(e)); err != nil {
		r.warn(fmt.Sprintf("health record %s: %v", r.path(), err))
		return err
	}
	r.lines++
	return nil
}

// appendLine writes line at the end of the file in one write, creating
// the file with its header when missing. Called with r.mu held.
func (r *Record) appendLine(line string) error {
	path := r.path()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// A new record (or the service's files were wiped): write it whole.
		r.lines = 0
		return r.rewrite()
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	_, err = f.WriteString(line)
	return err
}

// rewrite replaces the file atomically with what r holds. Called with
// r.mu held.
func (r *Record) rewrite() error {
	var b strings.Builder
	b.WriteString(header + "\n")
	// The errors of the last failures are kept; older failures keep
	// their step only.
	errs := map[uint32]string{}
	for _, f := range r.failures {
		errs[uint32(f.Time.Unix())] = f.Error
	}
	for _, x := range r.entries {
		e := x.Entry()
		if !e.OK {
			e.Error = errs[x.unix]
		}
		b.WriteString(formatLine(e))
	}
	path := r.path()
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	if err := store.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		r.warn(fmt.Sprintf("health record %s: %v", path, err))
		return err
	}
	r.lines = len(r.entries)
	if len(r.entries) > 0 {
		r.oldest = r.entries[0].unix
	}
	return nil
}

// Entry returns x as an Entry, without its error.
func (x entry) Entry() Entry {
	return Entry{Time: time.Unix(int64(x.unix), 0).UTC(), OK: x.ok, Latency: time.Duration(x.ms) * time.Millisecond, Step: steps[x.step]}
}

// Reset forgets the record in memory (its file was wiped); the next use
// reads the file again.
func (r *Record) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaded, r.entries, r.failures, r.lines = false, nil, nil, 0
}
