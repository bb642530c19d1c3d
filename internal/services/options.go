package services

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
)

// Target returns the loopback address of a named local port.
func (p *process) Target(name string) (string, bool) {
	if name == catalog.LocalPortName {
		return p.addr, true
	}
	a, ok := p.extra[name]
	return a, ok
}

const masked = "********"

// allOptions returns the common options then the service's own.
func allOptions(def *catalog.Service) []catalog.Option {
	return append(def.Common(), def.Options...)
}

func findOption(def *catalog.Service, name string) (*catalog.Option, bool) {
	for _, o := range allOptions(def) {
		if o.Name == name {
			return &o, true
		}
	}
	return nil, false
}

// value returns an option's current value. Call with s.mu held.
func (m *Manager) value(s *service, name string) string {
	if name == catalog.OptPersistence {
		// The root the files are in, whatever a crash in the middle of
		// a move left in the record.
		return fmt.Sprint(m.store.IsPersistent(s.def.Name))
	}
	if v, ok := s.rec.Options[name]; ok {
		return v
	}
	if o, ok := findOption(s.def, name); ok && o.Default != nil {
		return fmt.Sprint(o.Default)
	}
	return ""
}

// values returns every option's current value. Call with s.mu held.
func (m *Manager) values(s *service) map[string]string {
	out := map[string]string{}
	for _, o := range allOptions(s.def) {
		out[o.Name] = m.value(s, o.Name)
	}
	return out
}

func (m *Manager) optionOut(s *service, o catalog.Option, showSecrets bool) apitype.Option {
	out := apitype.Option{Name: o.Name, Title: o.Title, Description: o.Description, Type: o.Type,
		Value: m.value(s, o.Name), Choices: o.Choices, Min: o.Min, Max: o.Max,
		ShowInStatus: o.ShowInStatus}
	if o.Default != nil {
		out.Default = fmt.Sprint(o.Default)
	}
	for _, c := range catalog.CommonOptions() {
		if c.Name == o.Name {
			out.Common = true
		}
	}
	switch o.Name {
	case catalog.OptPoW, catalog.OptPoWQueueRate, catalog.OptPoWQueueBurst, catalog.OptMaxStreams:
		out.Group = apitype.GroupProtection
	}
	if o.Type == catalog.TypeSecret && !showSecrets && out.Value != "" {
		out.Value = masked
	}
	out.Warnings = m.optionWarnings(s, o.Name) // warnings.go
	return out
}

// optionsOut lists the options. Call with s.mu held.
func (m *Manager) optionsOut(s *service, showSecrets bool) []apitype.Option {
	var out []apitype.Option
	for _, o := range allOptions(s.def) {
		out = append(out, m.optionOut(s, o, showSecrets))
	}
	return out
}

// warnings are the ones the brief asks for, shown where the choice is
// made. Call with s.mu held.
func (m *Manager) warnings(s *service) []string {
	var w []string
	if m.value(s, catalog.OptClientAuth) != "true" {
		w = append(w, "client authorization is off: anyone who knows the onion address can connect, so share it only with people you trust and keep it secret")
	}
	if m.value(s, catalog.OptAllowLAN) == "true" {
		w = append(w, "allow-lan is on: the service also listens on the local network, which reveals it to everyone there")
	}
	return append(w, m.usableWarnings(s)...) // warnings.go
}

// generateSecrets gives every secret option without a value a generated
// one. Call with s.mu held; the caller saves.
func generateSecrets(s *service) error {
	for _, o := range s.def.Options {
		if o.Type != catalog.TypeSecret || o.Generate == nil {
			continue
		}
		if _, ok := s.rec.Options[o.Name]; ok {
			continue
		}
		v, err := o.GenerateSecret()
		if err != nil {
			return err
		}
		if s.rec.Options == nil {
			s.rec.Options = map[string]string{}
		}
		s.rec.Options[o.Name] = v
	}
	return nil
}

// importKey takes an existing onion key (Tor's key file or the
// ED25519-V3 form) for a service that has none yet, or the same one.
func (m *Manager) importKey(s *service, b []byte) error {
	k, err := onionkey.ParseSecretKeyFile(b)
	if err != nil {
		k, err = onionkey.ParseTorBlob(strings.TrimSpace(string(b)))
	}
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Msg: "the onion key is neither a hs_ed25519_secret_key file nor ED25519-V3:<base64>",
			Hint: "give Tor's hs_ed25519_secret_key from the service's HiddenServiceDir, or the key ADD_ONION returned"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		if s.key.Address() == k.Address() {
			return nil
		}
		return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s already has the onion address %s.onion", s.def.Name, s.key.Address()),
			Hint: fmt.Sprintf("to replace it, wipe the service first: tails-server remove %s --yes", s.def.Name)}
	}
	if err := m.store.WriteKey(s.def.Name, k.SecretKeyFile()); err != nil {
		return fmt.Errorf("saving the onion key of %s: %w", s.def.Name, err)
	}
	s.key = k
	s.rec.Address = k.Address()
	return nil
}

// GetOption returns one option.
func (m *Manager) GetOption(name, option string, showSecrets bool) (apitype.Option, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Option{}, err
	}
	o, ok := findOption(s.def, option)
	if !ok {
		return apitype.Option{}, unknownOption(s.def, option)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.optionOut(s, *o, showSecrets), nil
}

func unknownOption(def *catalog.Service, option string) error {
	var names []string
	for _, o := range allOptions(def) {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%s has no option %q", def.Name, option),
		Hint: "its options: " + strings.Join(names, ", ")}
}

// SetOption validates and applies an option. The change is atomic: the
// new config is rendered before anything changes, and if the backend does
// not start with it (or the service's files cannot move), the old value
// and config come back and the backend runs again as it did. An enabled
// service that failed is tried again with the new value.
func (m *Manager) SetOption(ctx context.Context, name, option, value string) (apitype.SetOptionResult, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.SetOptionResult{}, err
	}
	o, ok := findOption(s.def, option)
	if !ok {
		return apitype.SetOptionResult{}, unknownOption(s.def, option)
	}
	norm, err := o.ValidateAt(value, m.clock.Now())
	if err == nil && option == catalog.OptBalanceMaster {
		norm, err = NormalizeMaster(norm) // publish_dir.go
	}
	if err != nil {
		return apitype.SetOptionResult{}, &Error{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := m.balanceConflict(s, option, norm); err != nil {
		return apitype.SetOptionResult{}, err
	}
	if option == catalog.OptPersistence {
		// A move that a failure left unfinished ends first.
		if err := m.store.RecoverMove(name); err != nil {
			return apitype.SetOptionResult{}, fmt.Errorf("finishing the last move of %s: %w", name, err)
		}
		if err := m.reload(s); err != nil {
			return apitype.SetOptionResult{}, err
		}
	}

	s.mu.Lock()
	old, had := s.rec.Options[option]
	oldValue := m.value(s, option)
	running := s.backend != nil
	// The value may be what the service lacked: try it.
	retry := !running && s.rec.Enabled && s.state == apitype.StateFailed
	s.mu.Unlock()
	result := func() (apitype.SetOptionResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		r := apitype.SetOptionResult{Option: m.optionOut(s, *o, false)}
		switch {
		case option == catalog.OptClientAuth && norm == "false":
			r.Warnings = append(r.Warnings, m.warnings(s)[0])
		case option == catalog.OptAllowLAN && norm == "true":
			r.Warnings = m.warnings(s)
		case option == catalog.OptPersistence && norm == "true":
			r.Warnings = append(r.Warnings, "the service's configuration, data and onion key are now kept on the persistent storage, and survive a reboot")
		}
		r.Warnings = append(r.Warnings, r.Option.Warnings...) // usable_when, warnings.go
		r.Warnings = append(r.Warnings, m.optionNotes(s, option)...)
		return r, nil
	}
	if oldValue == norm {
		if option == catalog.OptPersistence && (old != norm || !had) {
			// The files are already where the value says: the record
			// says so too.
			if err := m.saveOption(s, option, norm, true); err != nil {
				return apitype.SetOptionResult{}, err
			}
		}
		return result()
	}
	set := func(v string, present bool) error { return m.saveOption(s, option, v, present) }
	// failed is set-option's answer when the backend did not start with
	// the new value: the old one is put back first.
	failed := func(cause error, undo func() error) (apitype.SetOptionResult, error) {
		if err := m.rollBack(ctx, s, running, undo); err != nil {
			return apitype.SetOptionResult{}, fmt.Errorf("%s: %v; putting the old value of %s back: %w", name, cause, option, err)
		}
		return apitype.SetOptionResult{}, &Error{Status: http.StatusBadRequest,
			Msg: fmt.Sprintf("%s did not start with %s=%s, the old value stays: %v", name, option, displayValue(o, norm), cause)}
	}

	switch option {
	case catalog.OptPersistence:
		// The files move while the backend is stopped.
		if running {
			m.stopBackend(s, evRestart, "")
		}
		undo := func() error { return m.movePersistence(s, oldValue == "true") }
		if err := m.movePersistence(s, norm == "true"); err != nil {
			if rerr := m.rollBack(ctx, s, running, undo); rerr != nil {
				return apitype.SetOptionResult{}, fmt.Errorf("moving %s: %v; moving it back: %w", name, err, rerr)
			}
			return apitype.SetOptionResult{}, fmt.Errorf("moving %s: %w; the old value stays", name, err)
		}
		if running || retry {
			if err := m.restart(ctx, s); err != nil {
				return failed(err, undo)
			}
		}
	case catalog.OptAutostart:
		if err := set(norm, true); err != nil {
			return apitype.SetOptionResult{}, err
		}
		s.mu.Lock()
		s.fire(evOptionSaved, "")
		s.mu.Unlock()
	case catalog.OptStopAfter, catalog.OptStartAt:
		// Deadlines only: nothing restarts (timers.go).
		if err := set(norm, true); err != nil {
			return apitype.SetOptionResult{}, err
		}
		m.timerOptionSet(ctx, s, option)
	case catalog.OptClientAuth:
		if err := set(norm, true); err != nil {
			return apitype.SetOptionResult{}, err
		}
		s.mu.Lock()
		s.fire(evOptionSaved, "")
		s.mu.Unlock()
		m.republishIfUp(ctx, s, norm == "true")
	case catalog.OptPoW, catalog.OptPoWQueueRate, catalog.OptPoWQueueBurst, catalog.OptMaxStreams, catalog.OptBalanceMaster:
		// Only how the onion is added changes: it is added again.
		s.mu.Lock()
		err := m.checkPoWQueue(s, option, norm) // protection_check.go
		s.mu.Unlock()
		if err != nil {
			return apitype.SetOptionResult{}, err
		}
		if err := set(norm, true); err != nil {
			return apitype.SetOptionResult{}, err
		}
		s.mu.Lock()
		s.fire(evOptionSaved, "")
		s.mu.Unlock()
		m.republishIfUp(ctx, s, false)
	default:
		// A value that the config cannot carry is refused before
		// anything changes.
		s.mu.Lock()
		values := m.values(s)
		s.mu.Unlock()
		values[option] = norm
		if err := checkRender(s.def, values); err != nil {
			return apitype.SetOptionResult{}, &Error{Status: http.StatusBadRequest, Msg: err.Error()}
		}
		if err := set(norm, true); err != nil {
			return apitype.SetOptionResult{}, err
		}
		if running || retry {
			if err := m.restart(ctx, s); err != nil {
				return failed(err, func() error { return set(old, had) })
			}
		}
	}
	return result()
}

// saveOption saves the service's record with option set to v (present)
// or unset. Call with s.op held.
func (m *Manager) saveOption(s *service, option, v string, present bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := *s.rec
	rec.Options = map[string]string{}
	for k, v := range s.rec.Options {
		rec.Options[k] = v
	}
	if present {
		rec.Options[option] = v
	} else {
		delete(rec.Options, option)
	}
	if err := m.store.Save(&rec); err != nil {
		return fmt.Errorf("saving the state of %s: %w", s.def.Name, err)
	}
	s.rec = &rec
	return nil
}

// movePersistence moves the service's files to the persistent root or the
// volatile one, the persistence option saved with them, as one journaled
// transaction (store.SetPersistent), and reads them again from where they
// are. Call with s.op held and the backend stopped.
func (m *Manager) movePersistence(s *service, persistent bool) error {
	err := m.store.SetPersistent(s.def.Name, persistent, catalog.OptPersistence, fmt.Sprint(persistent))
	if rerr := m.reload(s); err == nil {
		err = rerr
	}
	return err
}

// restart starts the backend again with the current values and, if the
// service is enabled, re-adds the onion: evRestart, then evBackendUp and
// evOnionAdded, or evBackendFailed with the reason. Call with s.op held.
func (m *Manager) restart(ctx context.Context, s *service) error {
	m.stopBackend(s, evRestart, "")
	if err := m.startBackend(ctx, s); err != nil {
		return err
	}
	s.mu.Lock()
	enabled := s.rec.Enabled
	s.mu.Unlock()
	if enabled {
		m.ensurePublished(ctx, s)
	}
	return nil
}

// rollBack is a failed set-option's way back: undo puts the old value
// (and files) back, then the backend starts again with the old config if
// it ran before (wasRunning); if it does not, the service is failed with
// the reason. Call with s.op held.
func (m *Manager) rollBack(ctx context.Context, s *service, wasRunning bool, undo func() error) error {
	m.stopBackend(s, "", "")
	err := undo()
	if err != nil {
		s.mu.Lock()
		s.fire(evBackendFailed, "set-option could not put the old value back: "+err.Error())
		s.mu.Unlock()
		return err
	}
	if wasRunning {
		if rerr := m.restart(ctx, s); rerr != nil {
			m.log.Warn("the backend did not start again with the old value", "service", s.def.Name, "err", rerr)
		}
	}
	s.mu.Lock()
	s.fire(evOptionRolledBack, "")
	s.mu.Unlock()
	return nil
}

func displayValue(o *catalog.Option, v string) string {
	if o.Type == catalog.TypeSecret {
		return masked
	}
	if o.Type == catalog.TypeText {
		// Errors are one line: a text (keys, accounts) is summed up.
		return fmt.Sprintf("(%d lines)", strings.Count(strings.TrimSuffix(v, "\n"), "\n")+1)
	}
	return v
}

// checkRender renders every config file in memory with values. A secret
// not generated yet (the service was never enabled) gets a generated
// stand-in, as enable will give it one.
func checkRender(def *catalog.Service, values map[string]string) error {
	env := catalog.Env{Config: "/config", Data: "/data", Listen: "127.0.0.1", Port: 1024, Ports: map[string]int{}}
	for _, o := range def.Options {
		if o.Type == catalog.TypeSecret && o.Generate != nil && values[o.Name] == "" {
			values[o.Name], _ = o.GenerateSecret()
		}
	}
	for _, cf := range def.ConfigFiles {
		if _, err := catalog.RenderConfig(def, cf, values, env); err != nil {
			return err
		}
	}
	return nil
}

// reload re-reads the record and key after the files moved. Call with
// s.op held.
func (m *Manager) reload(s *service) error {
	rec, err := m.store.Load(s.def.Name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec = rec
	return m.loadKeys(s)
}

// Remove disables a service and wipes its data, config, key and clients.
func (m *Manager) Remove(ctx context.Context, name string) error {
	s, err := m.get(name)
	if err != nil {
		return err
	}
	if _, err := m.Disable(ctx, name); err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := m.store.Wipe(name); err != nil {
		return fmt.Errorf("wiping %s: %w", name, err)
	}
	if done, err := m.installer.RestoreSystemUnits(ctx, s.def.Packages); err != nil {
		m.log.Warn("putting back the system's own services", "service", name, "done", done, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec = &store.Service{Name: name}
	s.key, s.selfKey = nil, nil
	s.lastCheck, s.uploads, s.republished = nil, 0, 0
	s.health.Reset()
	s.fire(evDisable, "")
	return nil
}

// Logs returns the last n lines of a service's backend output.
func (m *Manager) Logs(name string, n int) ([]string, error) {
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	b := s.backend
	s.mu.Unlock()
	if b == nil {
		return []string{}, nil
	}
	l := b.Logs(n)
	if l == nil {
		l = []string{}
	}
	return l, nil
}

// Follow streams a running backend's new output lines until ctx ends.
func (m *Manager) Follow(ctx context.Context, name string) (<-chan string, error) {
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	b := s.backend
	s.mu.Unlock()
	if b == nil {
		return nil, &Error{Status: http.StatusConflict, Msg: name + " is not running", Hint: "enable it first: tails-server enable " + name}
	}
	ch := b.Follow(ctx)
	if ch == nil {
		return nil, &Error{Status: http.StatusConflict, Msg: name + " runs inside the daemon and keeps no log of its own"}
	}
	return ch, nil
}
