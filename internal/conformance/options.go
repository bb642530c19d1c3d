package conformance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tails-server/internal/catalog"
)

// optionTrials are the set-option trials of one of the service's own
// options: a valid value (applied, the backend restarts and answers
// through the onion) and an invalid one (refused, the option unchanged).
func (r *run) optionTrials(o *catalog.Option) []trial {
	show := func(v string) string {
		if o.Type == catalog.TypeSecret {
			return "a secret"
		}
		return strconv.Quote(v)
	}
	// The values depend on the current one, known only once enabled.
	var vals *optionValues
	values := func(ctx context.Context) (optionValues, string, error) {
		cur, err := r.get(ctx, o.Name)
		if err != nil {
			return optionValues{}, "", err
		}
		if vals == nil {
			v := valuesFor(o, cur, freePort)
			vals = &v
		}
		return *vals, cur, nil
	}
	return []trial{
		{name: "set-option " + o.Name + " to a valid value", run: func(ctx context.Context) error {
			v, cur, err := values(ctx)
			if err != nil {
				return err
			}
			if !v.HasValid {
				return skip("%s", v.NoValid)
			}
			if err := r.setAccepted(ctx, o, v.Valid, v.Want, show(v.Valid)); err != nil {
				return err
			}
			return r.restore(ctx, o, cur)
		}},
		{name: "set-option " + o.Name + " to an invalid value", run: func(ctx context.Context) error {
			v, cur, err := values(ctx)
			if err != nil {
				return err
			}
			if v.Invalid == "" {
				return skip("%s", v.NoInvalid)
			}
			if err := r.setRefused(ctx, o, v.Invalid, cur, show(v.Invalid)); err != nil {
				r.restore(ctx, o, cur)
				return err
			}
			return nil
		}},
	}
}

// setAccepted sets o to value, which must be accepted and read back as
// want; then see accepted.
func (r *run) setAccepted(ctx context.Context, o *catalog.Option, value, want, shown string) error {
	if _, err := r.sc.api.SetOption(ctx, r.svc.Name, o.Name, value); err != nil {
		return fmt.Errorf("%s refused: %v", shown, err)
	}
	return r.accepted(ctx, o, want, shown)
}

// accepted checks an accepted value: it reads back as want, and the
// backend runs again and answers through the onion (the health check's
// probe: a valid value may rightly change what the declared probe looks
// for, a web folder for one).
func (r *run) accepted(ctx context.Context, o *catalog.Option, want, shown string) error {
	got, err := r.get(ctx, o.Name)
	if err != nil {
		return err
	}
	if got != want {
		if o.Type == catalog.TypeSecret {
			return fmt.Errorf("a secret set reads back as another value")
		}
		return fmt.Errorf("%s accepted, but reads back as %q", shown, got)
	}
	if err := r.running(ctx, 0); err != nil {
		return fmt.Errorf("after %s: %v", shown, err)
	}
	if err := r.prove(ctx, r.health); err != nil {
		return fmt.Errorf("after %s: %v", shown, err)
	}
	return nil
}

// setRefused sets o to value, which must be refused; see refused.
func (r *run) setRefused(ctx context.Context, o *catalog.Option, value, cur, shown string) error {
	if _, err := r.sc.api.SetOption(ctx, r.svc.Name, o.Name, value); err != nil {
		return r.refused(ctx, o, value, cur, shown, err)
	}
	return fmt.Errorf("%s was accepted; the option's rules (type, pattern, bounds) should refuse it", shown)
}

// refused checks a refusal: one line, not quoting a secret, the option
// still at cur.
func (r *run) refused(ctx context.Context, o *catalog.Option, value, cur, shown string, serr error) error {
	msg := serr.Error()
	if strings.ContainsAny(msg, "\r\n") {
		return fmt.Errorf("%s refused, but the error is not one line", shown)
	}
	if o.Type == catalog.TypeSecret && strings.Contains(msg, value) {
		return errors.New("the refusal of a secret quotes the value")
	}
	if got, err := r.get(ctx, o.Name); err != nil || got != cur {
		return fmt.Errorf("%s refused, but the option changed (%v)", shown, err)
	}
	return nil
}

// restore sets o back to cur (when it differs) and waits for the backend.
func (r *run) restore(ctx context.Context, o *catalog.Option, cur string) error {
	if got, err := r.get(ctx, o.Name); err == nil && got == cur {
		return nil
	}
	if _, err := r.sc.api.SetOption(ctx, r.svc.Name, o.Name, cur); err != nil {
		return fmt.Errorf("setting %s back: %v", o.Name, err)
	}
	if err := r.running(ctx, 0); err != nil {
		return fmt.Errorf("after setting %s back: %v", o.Name, err)
	}
	return nil
}

// hostile sets o to each of HostileValues in turn: each is refused (one
// line, the option unchanged) or accepted with the backend running and
// answering through the onion. The option is set back at the end.
func (r *run) hostile(ctx context.Context, o *catalog.Option) error {
	cur, err := r.get(ctx, o.Name)
	if err != nil {
		return err
	}
	prev := cur
	for i, v := range HostileValues {
		shown := fmt.Sprintf("hostile value %d %s", i+1, strconv.Quote(v))
		if o.Type == catalog.TypeSecret {
			shown = fmt.Sprintf("hostile value %d", i+1)
		}
		want, verr := o.Validate(v)
		if _, serr := r.sc.api.SetOption(ctx, r.svc.Name, o.Name, v); serr != nil {
			// Refused: by the option's rules, or by the escaper of the
			// file it lands in.
			err = r.refused(ctx, o, v, prev, shown, serr)
		} else if verr != nil {
			err = fmt.Errorf("%s was accepted by the daemon, though the option's rules refuse it (%v)", shown, verr)
		} else if err = r.accepted(ctx, o, want, shown); err == nil {
			prev = want
		}
		if err != nil {
			r.restore(ctx, o, cur)
			return err
		}
	}
	return r.restore(ctx, o, cur)
}
