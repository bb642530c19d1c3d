package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRunTrials: one line per trial as it runs; a failed gate leaves the
// rest not run, a failed trial does not; a skip does not fail the run.
func TestRunTrials(t *testing.T) {
	ran := map[string]bool{}
	tr := func(name string, gate bool, err error) trial {
		return trial{name: name, gate: gate, run: func(context.Context) error { ran[name] = true; return err }}
	}
	var out bytes.Buffer
	r := &Report{Service: "svc"}
	runTrials(context.Background(), r, []trial{
		tr("enable", true, nil),
		tr("kill -9", false, skip("the web backend runs inside the daemon")),
		tr("set-option a", false, errors.New("value refused:\nsecond line")),
		tr("probe", true, errors.New("no answer")),
		tr("disable", false, nil),
	}, &out)
	want := "PASS enable (0.0s)\n" +
		"SKIP kill -9: the web backend runs inside the daemon\n" +
		"FAIL set-option a: value refused: second line\n" +
		"FAIL probe: no answer\n" +
		"NOT RUN disable: probe failed\n"
	if out.String() != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", out.String(), want)
	}
	if ran["disable"] || r.OK() {
		t.Fatalf("ran %v, ok %v", ran, r.OK())
	}
	r.Total = 93400 * time.Millisecond
	if s := r.Summary(); s != "check svc: FAILED: 1 passed, 2 failed, 1 skipped, 1 not run, in 93.4s" {
		t.Fatalf("summary %q", s)
	}

	ok := &Report{Service: "svc", Results: []Result{{Name: "a", Status: Pass}, {Name: "b", Status: Skip}}}
	if !ok.OK() || !strings.Contains(ok.Summary(), ": ok: 1 passed, 0 failed, 1 skipped") {
		t.Fatalf("passing run: %v %s", ok.OK(), ok.Summary())
	}
}

// TestRunTrialsStop: a trial whose error wraps errStop (the scratch
// daemon is gone) ends the run, gate or not.
func TestRunTrialsStop(t *testing.T) {
	var out bytes.Buffer
	r := &Report{}
	runTrials(context.Background(), r, []trial{
		{name: "persistence on", run: func(context.Context) error { return fmt.Errorf("%w: the daemon exited", errStop) }},
		{name: "persistence off", run: func(context.Context) error { return nil }},
	}, &out)
	if got := r.Results[1]; got.Status != NotRun || got.Why != "persistence on failed" {
		t.Fatalf("after errStop: %+v", got)
	}
}
