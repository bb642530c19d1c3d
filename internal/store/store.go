// Package store keeps the daemon's state on disk: one directory per hosted
// service holding a JSON record and the service's onion key, every file
// written atomically (temp file, fsync, rename, fsync of the directory) so
// that a kill at any instant leaves either the old or the new version.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// WriteFile atomically replaces path with data, with the given mode. The
// data is fsynced before the rename and the directory after it.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Client is an authorized client as stored: its private key stays in the
// store (mode 0600) so that its credential can be shown again.
type Client struct {
	Name string `json:"name"`
	// PrivateKey is the x25519 private key, base32.
	PrivateKey string    `json:"private_key"`
	Added      time.Time `json:"added"`
}

// Service is the stored record of one hosted service.
type Service struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Address is the onion address without ".onion", set when the key was
	// made; it never changes for the life of the state.
	Address string   `json:"address,omitempty"`
	Clients []Client `json:"clients,omitempty"`
	// SelfCheckKey is the x25519 private key (base32) of the daemon's own
	// client credential, used by the reachability self-check.
	SelfCheckKey string `json:"self_check_key,omitempty"`
}

// Client returns the named client, or nil.
func (s *Service) Client(name string) *Client {
	for i := range s.Clients {
		if s.Clients[i].Name == name {
			return &s.Clients[i]
		}
	}
	return nil
}

// Store is a state directory.
type Store struct {
	Dir string
}

// Open checks that dir is a writable directory (creating it, mode 0700, if
// missing) and returns the store in it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s cannot be created: %w", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return nil, fmt.Errorf("state dir %s is not writable", dir)
	}
	probe.Close()
	os.Remove(probe.Name())
	if err := os.MkdirAll(filepath.Join(dir, "services"), 0o700); err != nil {
		return nil, err
	}
	return &Store{Dir: dir}, nil
}

// ServiceDir is where a service's files live.
func (s *Store) ServiceDir(name string) string {
	return filepath.Join(s.Dir, "services", name)
}

// KeyPath is the service's onion key, in Tor's hs_ed25519_secret_key format.
func (s *Store) KeyPath(name string) string {
	return filepath.Join(s.ServiceDir(name), "hs_ed25519_secret_key")
}

func (s *Store) recordPath(name string) string {
	return filepath.Join(s.ServiceDir(name), "service.json")
}

// Load returns the stored record of a service, or a fresh one.
func (s *Store) Load(name string) (*Service, error) {
	b, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return &Service{Name: name}, nil
	}
	if err != nil {
		return nil, err
	}
	var rec Service
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: malformed service record: %v", s.recordPath(name), err)
	}
	rec.Name = name
	return &rec, nil
}

// Save writes a service's record atomically, mode 0600.
func (s *Store) Save(rec *Service) error {
	if err := os.MkdirAll(s.ServiceDir(rec.Name), 0o700); err != nil {
		return err
	}
	sort.Slice(rec.Clients, func(i, j int) bool { return rec.Clients[i].Name < rec.Clients[j].Name })
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(s.recordPath(rec.Name), append(b, '\n'), 0o600)
}

// ReadKey returns the service's stored key file, or fs.ErrNotExist.
func (s *Store) ReadKey(name string) ([]byte, error) {
	return os.ReadFile(s.KeyPath(name))
}

// WriteKey stores the service's key file atomically, mode 0600.
func (s *Store) WriteKey(name string, data []byte) error {
	if err := os.MkdirAll(s.ServiceDir(name), 0o700); err != nil {
		return err
	}
	return WriteFile(s.KeyPath(name), data, 0o600)
}
