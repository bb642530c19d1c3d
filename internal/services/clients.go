package services

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
)

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

func validClientName(name string) error {
	if !clientName.MatchString(name) {
		return &Error{Status: http.StatusBadRequest,
			Msg:  fmt.Sprintf("invalid client name %q", name),
			Hint: "use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

// Clients lists a service's clients (without their credentials).
func (m *Manager) Clients(name string) ([]apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []apitype.Client{}
	for _, c := range s.rec.Clients {
		ac, err := clientOut(s, &c, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ac)
	}
	return out, nil
}

func clientOut(s *service, c *store.Client, secret bool) (apitype.Client, error) {
	k, err := onionkey.ParseClientPrivateBase32(c.PrivateKey)
	if err != nil {
		return apitype.Client{}, fmt.Errorf("client %s of %s: %w", c.Name, s.def.Name, err)
	}
	out := apitype.Client{Name: c.Name, PublicKey: k.PublicBase32(), Added: c.Added}
	if secret && s.rec.Address != "" {
		out.Credential = k.AuthPrivateLine(s.rec.Address)
		out.Key = k.PrivateBase32()
		out.CredentialFile = credentialFile(s.def.Name, c.Name)
	}
	return out, nil
}

// Client returns one client with its credential.
func (m *Manager) Client(name, client string) (apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Client{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.rec.Client(client)
	if c == nil {
		return apitype.Client{}, notFound("%s has no client %q", name, client)
	}
	if s.rec.Address == "" {
		return apitype.Client{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s has no onion address yet", name),
			Hint: fmt.Sprintf("enable it first: tails-server enable %s", name)}
	}
	return clientOut(s, c, true)
}

// AddClient makes a new client key pair, stores it, and re-publishes the
// onion if the service is enabled so that the client may connect.
func (m *Manager) AddClient(ctx context.Context, name, client string) (apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Client{}, err
	}
	if err := validClientName(client); err != nil {
		return apitype.Client{}, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := m.ensureKeys(s); err != nil {
		return apitype.Client{}, err
	}
	k, err := onionkey.GenerateClientKey()
	if err != nil {
		return apitype.Client{}, err
	}
	s.mu.Lock()
	if s.rec.Client(client) != nil {
		s.mu.Unlock()
		return apitype.Client{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s already has a client %q", name, client),
			Hint: fmt.Sprintf("show its credential with `tails-server client show %s %s`, or pick another name", name, client)}
	}
	rec := *s.rec
	rec.Clients = append(append([]store.Client(nil), s.rec.Clients...),
		store.Client{Name: client, PrivateKey: k.PrivateBase32(), Added: time.Now().UTC().Truncate(time.Second)})
	if err := m.store.Save(&rec); err != nil {
		s.mu.Unlock()
		return apitype.Client{}, fmt.Errorf("saving the state of %s: %w", name, err)
	}
	s.rec = &rec
	out, err := clientOut(s, s.rec.Client(client), true)
	s.mu.Unlock()
	m.republishIfUp(ctx, s, false)
	return out, err
}

// RemoveClient forgets a client and re-publishes the onion without it, so
// that its credential no longer opens the service.
func (m *Manager) RemoveClient(ctx context.Context, name, client string) error {
	s, err := m.get(name)
	if err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.rec.Client(client) == nil {
		s.mu.Unlock()
		return notFound("%s has no client %q", name, client)
	}
	rec := *s.rec
	rec.Clients = nil
	for _, c := range s.rec.Clients {
		if c.Name != client {
			rec.Clients = append(rec.Clients, c)
		}
	}
	if err := m.store.Save(&rec); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("saving the state of %s: %w", name, err)
	}
	s.rec = &rec
	s.mu.Unlock()
	m.republishIfUp(ctx, s, true)
	return nil
}
