package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Status is the outcome of one trial.
type Status string

// The outcomes. Only Pass and Skip (the trial does not apply to the
// description: a kill -9 of a backend that runs inside the daemon) let a
// run pass.
const (
	Pass   Status = "PASS"
	Fail   Status = "FAIL"
	Skip   Status = "SKIP"
	NotRun Status = "NOT RUN" // an earlier trial it needs failed
)

// Result is one trial's outcome.
type Result struct {
	Name     string        `json:"name" yaml:"name"`
	Status   Status        `json:"status" yaml:"status"`
	Why      string        `json:"why,omitempty" yaml:"why,omitempty"` // one line
	Duration time.Duration `json:"duration_ns" yaml:"duration"`
}

// Line is the result as the run prints it: "PASS name (1.2s)", "FAIL
// name: why", "SKIP name: why", "NOT RUN name: why".
func (r Result) Line() string {
	if r.Status == Pass {
		return fmt.Sprintf("PASS %s (%.1fs)", r.Name, r.Duration.Seconds())
	}
	return fmt.Sprintf("%s %s: %s", r.Status, r.Name, r.Why)
}

// Report is a whole run.
type Report struct {
	Service string        `json:"service" yaml:"service"`
	Results []Result      `json:"results" yaml:"results"`
	Total   time.Duration `json:"total_ns" yaml:"total"`
}

// OK is true when no trial failed or was left out.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if res.Status == Fail || res.Status == NotRun {
			return false
		}
	}
	return true
}

// Summary is the run's last line: "check NAME: 12 passed, 1 failed, 2
// skipped, 3 not run in 93.4s".
func (r *Report) Summary() string {
	n := map[Status]int{}
	for _, res := range r.Results {
		n[res.Status]++
	}
	verdict := "ok"
	if !r.OK() {
		verdict = "FAILED"
	}
	return fmt.Sprintf("check %s: %s: %d passed, %d failed, %d skipped, %d not run, in %.1fs",
		r.Service, verdict, n[Pass], n[Fail], n[Skip], n[NotRun], r.Total.Seconds())
}

// trial is one step of a run. run returns nil (pass), a skipError (does
// not apply) or the failure.
type trial struct {
	name string
	run  func(ctx context.Context) error
	// gate: when it fails, the trials after it are not run (nothing
	// can be proved without an enabled, reachable service).
	gate bool
}

// skipError says a trial does not apply.
type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

func skip(format string, args ...any) error { return &skipError{fmt.Sprintf(format, args...)} }

// errStop, wrapped in a trial's error, ends the run after it (the scratch
// daemon is gone).
var errStop = errors.New("the run cannot go on")

// runTrials runs the trials in order, printing each result's line to out
// as it comes, and appends them to r.
func runTrials(ctx context.Context, r *Report, trials []trial, out io.Writer) {
	stopped := ""
	for _, t := range trials {
		res := Result{Name: t.name}
		if stopped != "" {
			res.Status, res.Why = NotRun, stopped
		} else {
			start := time.Now()
			err := t.run(ctx)
			res.Duration = time.Since(start)
			var se *skipError
			switch {
			case err == nil:
				res.Status = Pass
			case errors.As(err, &se):
				res.Status, res.Why = Skip, oneLine(se.why)
			default:
				res.Status, res.Why = Fail, oneLine(err.Error())
				if t.gate || errors.Is(err, errStop) || ctx.Err() != nil {
					stopped = t.name + " failed"
					if ctx.Err() != nil {
						stopped = "interrupted"
					}
				}
			}
		}
		r.Results = append(r.Results, res)
		fmt.Fprintln(out, res.Line())
	}
}
