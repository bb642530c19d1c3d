package catalog

import (
	"fmt"
	"strings"
	"time"
)

// Timer options: a service that declares an option of one of these names
// gets the manager's timers (internal/services, timers.go); the option
// must have the type given.
const (
	// OptStopAfter (type duration): once the service has been published
	// that long, its onion is withdrawn and it is disabled.
	OptStopAfter = "stop-after"
	// OptStartAt (type time): enable records the service enabled but
	// publishes it only at that time.
	OptStartAt = "start-at"
)

// timerOptionTypes are the types the timer options must have.
var timerOptionTypes = map[string]string{OptStopAfter: TypeDuration, OptStartAt: TypeTime}

// MaxDuration is the longest value of a duration option: a year.
const MaxDuration = 366 * 24 * time.Hour

// durationHelp is what a refused duration is told.
const durationHelp = "use a whole number of seconds, minutes or hours with its unit, like 30s, 90m, 2h or 1h30m (0 or empty: none)"

// ParseDuration parses the value of a duration option: a Go duration of
// whole seconds (30s, 90m, 2h, 1h30m), from 1s to MaxDuration; "" and
// "0" are 0, none.
func ParseDuration(v string) (time.Duration, error) {
	if v == "" || v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("value %s is not a duration: %s", quoteShort(v), durationHelp)
	case d < 0:
		return 0, fmt.Errorf("value %s is negative: %s", quoteShort(v), durationHelp)
	case d%time.Second != 0:
		return 0, fmt.Errorf("value %s is not a whole number of seconds: %s", quoteShort(v), durationHelp)
	case d > MaxDuration:
		return 0, fmt.Errorf("value %s is longer than %s (a year)", quoteShort(v), FormatDuration(MaxDuration))
	}
	return d, nil
}

// FormatDuration writes d (whole seconds) in the short form duration
// options are kept in: 30s, 1h30m, 2h; 0 is "".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseTime parses the value of a time option, as kept: "" (none) or an
// RFC 3339 time, returned in UTC.
func ParseTime(v string) (time.Time, bool, error) {
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("value %s is not a time: use an RFC 3339 time like 2026-12-24T18:00:00Z, or +DURATION from now like +20s or +2h", quoteShort(v))
	}
	return t.UTC(), true, nil
}

// FormatTime writes t as time options are kept: RFC 3339, UTC, whole
// seconds.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// validateTime is Validate for a time option at now: "" (none), an RFC
// 3339 time (any offset, kept in UTC), or +DURATION from now; never a
// time before now.
func (o *Option) validateTime(value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	var t time.Time
	if rel, ok := strings.CutPrefix(value, "+"); ok {
		d, err := ParseDuration(rel)
		if err != nil || d == 0 {
			return "", fmt.Errorf("value %s is not a time: after +, %s", quoteShort(value), strings.TrimSuffix(durationHelp, " (0 or empty: none)"))
		}
		// Rounded up to the second, so that +20s is never less.
		t = now.Add(d + time.Second - 1).Truncate(time.Second)
	} else {
		var err error
		if t, _, err = ParseTime(value); err != nil {
			return "", err
		}
		if t.Before(now) {
			return "", fmt.Errorf("value %s is in the past (it is now %s): give a later time, or +DURATION from now like +20s", quoteShort(value), FormatTime(now))
		}
	}
	return FormatTime(t), nil
}
