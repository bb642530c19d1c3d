package health

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newRec(t *testing.T) (*Record, string, *[]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	var warns []string
	return New(func() string { return path }, func(s string) { warns = append(warns, s) }), path, &warns
}

func TestAppendSurvivesReload(t *testing.T) {
	r, path, warns := newRec(t)
	must(t, r.Append(Entry{Time: t0, OK: true, Latency: 1500 * time.Millisecond}, t0))
	must(t, r.Append(Entry{Time: t0.Add(time.Minute), Step: StepConnect, Error: "socks: host unreachable\r\nINJECT", Latency: time.Second}, t0))
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 3 {
		t.Fatalf("file has %d lines, want header and two checks:\n%s", n, b)
	}
	again := New(func() string { return path }, nil)
	f := again.Failures(t0.Add(2 * time.Minute))
	if len(f) != 1 || f[0].Step != StepConnect || f[0].Error != "socks: host unreachable  INJECT" || !f[0].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("failures after reload: %+v", f)
	}
	u := again.Uptimes(t0.Add(2*time.Minute), time.Hour)[0]
	if u.Checks != 2 || u.Failed != 1 || u.Percent() != 50 {
		t.Fatalf("uptime %+v %v", u, u.Percent())
	}
	if len(*warns) != 0 {
		t.Fatalf("warnings: %v", *warns)
	}
}

func TestLongErrorKeepsItsEnd(t *testing.T) {
	e := clean(Entry{Time: t0, Error: strings.Repeat("é", 300) + ": host unreachable"})
	if len(e.Error) > MaxErrorLen || !strings.HasPrefix(e.Error, "…") || !strings.HasSuffix(e.Error, ": host unreachable") {
		t.Fatalf("%d bytes: %q", len(e.Error), e.Error)
	}
}

func TestUptimeWindows(t *testing.T) {
	r, _, _ := newRec(t)
	now := t0.Add(7 * 24 * time.Hour)
	// One check an hour for 6 days, the ones 2 h to 3 d ago failed.
	for h := 6 * 24; h >= 0; h-- {
		at := now.Add(-time.Duration(h) * time.Hour)
		ok := h < 2 || h > 72
		must(t, r.Append(Entry{Time: at, OK: ok, Step: StepProtocol}, at))
	}
	got := r.Uptimes(now, time.Hour, 24*time.Hour, Keep)
	want := []Uptime{{time.Hour, 2, 0}, {24 * time.Hour, 25, 23}, {Keep, 145, 71}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("window %v: got %+v, want %+v", want[i].Window, got[i], want[i])
		}
	}
	if p := (Uptime{}).Percent(); p != -1 {
		t.Errorf("no checks: %v, want -1", p)
	}
	if f := r.Failures(now); len(f) != MaxFailures || !f[0].Time.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("failures: %d, newest %v", len(f), f[0].Time)
	}
}

func TestBounds(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 8 {
		t.Errorf("a check takes %d bytes in memory, want 8", n)
	}
	r, path, _ := newRec(t)
	at := t0
	for i := 0; i < MaxEntries*5/4; i++ {
		at = t0.Add(time.Duration(i) * 10 * time.Second)
		must(t, r.Append(Entry{Time: at, OK: true, Latency: time.Second}, at))
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n") - 1; n > MaxEntries+MaxEntries/8 || n < MaxEntries {
		t.Fatalf("file holds %d checks, bound %d", n, MaxEntries+MaxEntries/8)
	}
	if u := r.Uptimes(at, Keep)[0]; u.Checks != MaxEntries {
		t.Fatalf("memory holds %d, want %d", u.Checks, MaxEntries)
	}
	// Eight days later, one check: the week before is gone from file and memory.
	later := at.Add(8 * 24 * time.Hour)
	must(t, r.Append(Entry{Time: later, OK: true}, later))
	b, _ = os.ReadFile(path)
	if n := strings.Count(string(b), "\n") - 1; n != 1 {
		t.Fatalf("after a week: %d checks in the file, want 1", n)
	}
	if u := New(func() string { return path }, nil).Uptimes(later, Keep)[0]; u.Checks != 1 {
		t.Fatalf("after a week, reloaded: %+v", u)
	}
}

func TestCorruptRecordRotatedAside(t *testing.T) {
	for name, content := range map[string]string{
		"bad header":  "not a health record\n1 ok 1 -\n",
		"bad line":    header + "\n1764590400 ok 12 -\n1764590460 maybe 12 -\n",
		"bad step":    header + "\n1764590400 fail 12 ../etc x\n",
		"binary":      "\x00\x01\x02",
		"empty":       "",
		"huge":        header + "\n" + strings.Repeat("1764590400 ok 12 -\n", maxFileSize/19+1),
		"neg latency": header + "\n1764590400 ok -3 -\n",
	} {
		t.Run(name, func(t *testing.T) {
			r, path, warns := newRec(t)
			must(t, os.WriteFile(path, []byte(content), 0o600))
			must(t, r.Append(Entry{Time: t0, OK: true}, t0))
			if len(*warns) != 1 || !strings.Contains((*warns)[0], "moved aside") {
				t.Fatalf("warnings: %v", *warns)
			}
			aside := path + ".corrupt-20261201T120000Z"
			if b, err := os.ReadFile(aside); err != nil || string(b) != content {
				t.Fatalf("the corrupt record is not kept aside at %s: %v", aside, err)
			}
			if u := New(func() string { return path }, nil).Uptimes(t0, time.Hour)[0]; u.Checks != 1 {
				t.Fatalf("new record: %+v", u)
			}
		})
	}
}

func TestCutLastLineDropped(t *testing.T) {
	r, path, warns := newRec(t)
	kept := fmt.Sprintf("%d ok 12 -\n", t0.Add(-time.Hour).Unix())
	must(t, os.WriteFile(path, []byte(header+"\n"+kept+"1764590460 fa"), 0o600))
	must(t, r.Append(Entry{Time: t0, OK: false, Step: StepChecker}, t0))
	b, _ := os.ReadFile(path)
	want := header + "\n" + kept + formatLine(clean(Entry{Time: t0, Step: StepChecker}))
	if string(b) != want || len(*warns) != 0 {
		t.Fatalf("file:\n%q\nwant\n%q\nwarnings %v", b, want, *warns)
	}
}

func TestSymlinkNotFollowed(t *testing.T) {
	r, path, warns := newRec(t)
	target := filepath.Join(t.TempDir(), "elsewhere")
	must(t, os.WriteFile(target, []byte(header+"\n"), 0o600))
	must(t, os.Symlink(target, path))
	_ = r.Append(Entry{Time: t0, OK: true}, t0)
	if b, _ := os.ReadFile(target); string(b) != header+"\n" {
		t.Fatalf("written through a symlink: %q", b)
	}
	if len(*warns) == 0 {
		t.Fatal("no warning about the symlink")
	}
}

func TestChart(t *testing.T) {
	r, _, _ := newRec(t)
	now := t0.Add(24 * time.Hour)
	for m := 0; m < 24*60; m += 30 {
		at := t0.Add(time.Duration(m) * time.Minute)
		ok := at.Hour() != 18
		must(t, r.Append(Entry{Time: at, OK: ok, Latency: time.Duration(m%60+1) * 100 * time.Millisecond}, at))
	}
	c := r.Chart(now, 24*time.Hour, 24)
	if len(c) != 24 || !c[0].Start.Equal(t0) {
		t.Fatalf("chart: %d buckets from %v", len(c), c[0].Start)
	}
	for i, b := range c {
		if b.Checks != 2 {
			t.Errorf("bucket %d: %d checks", i, b.Checks)
		}
	}
	if c[6].Failed != 2 || c[6].Latency != 0 {
		t.Errorf("18:00 bucket: %+v", c[6])
	}
	if c[0].Latency != (100+3100)*time.Millisecond/2 {
		t.Errorf("mean latency %v", c[0].Latency)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
