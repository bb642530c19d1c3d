package catalog

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestDurationOption: a duration option takes whole seconds, minutes and
// hours, keeps them in short form, and refuses anything else with one
// line naming the option and the form it takes.
func TestDurationOption(t *testing.T) {
	o := &Option{Name: OptStopAfter, Type: TypeDuration}
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"": "", "0": "", "30s": "30s", "90m": "1h30m", "2h": "2h", "1h30m": "1h30m", "120s": "2m", "2000ms": "2s", "8784h": "8784h",
	} {
		got, err := o.ValidateAt(in, now)
		if err != nil || got != want {
			t.Errorf("%q = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"abc":    `option "stop-after": value "abc" is not a duration: use a whole number of seconds, minutes or hours`,
		"30":     "is not a duration",
		"-5m":    "is negative",
		"1500ms": "is not a whole number of seconds",
		"8785h":  "is longer than 8784h (a year)",
		"3d":     "is not a duration",
	} {
		got, err := o.ValidateAt(in, now)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q = %q, %v; want one line with %q", in, got, err, want)
		}
	}
}

// TestTimeOption: a time option takes an RFC 3339 time (kept in UTC) or
// +DURATION from now (made absolute), and refuses a time in the past.
func TestTimeOption(t *testing.T) {
	o := &Option{Name: OptStartAt, Type: TypeTime}
	now := time.Date(2026, 12, 2, 8, 0, 0, 300e6, time.UTC)
	for in, want := range map[string]string{
		"":                          "",
		"+20s":                      "2026-12-02T08:00:21Z", // rounded up: never less than 20 s away
		"+2h":                       "2026-12-02T10:00:01Z",
		"2026-12-24T18:00:00Z":      "2026-12-24T18:00:00Z",
		"2026-12-24T19:00:00+01:00": "2026-12-24T18:00:00Z",
	} {
		got, err := o.ValidateAt(in, now)
		if err != nil || got != want {
			t.Errorf("%q = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"2026-12-02T07:59:59Z": `option "start-at": value "2026-12-02T07:59:59Z" is in the past (it is now 2026-12-02T08:00:00Z)`,
		"tomorrow":             "is not a time: use an RFC 3339 time like 2026-12-24T18:00:00Z, or +DURATION",
		"2026-12-24 18:00":     "is not a time",
		"+0s":                  "after +",
		"+-5m":                 "after +",
		"+soon":                "after +",
	} {
		got, err := o.ValidateAt(in, now)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q = %q, %v; want one line with %q", in, got, err, want)
		}
	}
}

// TestTimerOptionsDecode: a description may declare the timer options
// with their types only, and a time has no default.
func TestTimerOptionsDecode(t *testing.T) {
	head := "name: svc\ntitle: S\ndescription: D\nbackend:\n  builtin: web\nlocal_port: auto\nonion_ports:\n  - virtual: 80\noptions:\n"
	for opts, want := range map[string]string{
		"  - {name: stop-after, title: T, type: duration, default: 90m}\n  - {name: start-at, title: T, type: time}\n": "",
		"  - {name: stop-after, title: T, type: int, default: 3}\n":                                                    "a timer option must have type duration",
		"  - {name: start-at, title: T, type: string}\n":                                                               "a timer option must have type time",
		"  - {name: start-at, title: T, type: time, default: '2030-01-01T00:00:00Z'}\n":                                "a time has no default",
		"  - {name: stop-after, title: T, type: duration, default: soon}\n":                                            "bad default: value \"soon\" is not a duration",
	} {
		cat, errs := Load(fstest.MapFS{"svc.yaml": {Data: []byte(head + opts)}})
		if want == "" {
			if len(errs) > 0 {
				t.Errorf("%s: %v", opts, errs)
				continue
			}
			s, _ := cat.Get("svc")
			if o, _ := s.Option(OptStopAfter); o.Default != "1h30m" {
				t.Errorf("stop-after default = %v", o.Default)
			}
			continue
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: errors %v, want one with %q", opts, errs, want)
		}
	}
}
