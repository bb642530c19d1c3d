// Package store keeps the daemon's state on disk: one directory per hosted
// service, in a persistent or a volatile root, holding a JSON record, the
// service's onion key, its config and its data; every file
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
	"regexp"
	"sort"
	"strings"
	"time"

	"tails-server/internal/safefs"
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

// SyncDir fsyncs the directory dir, so that a rename or removal in it
// survives a crash.
func SyncDir(dir string) error { return syncDir(dir) }

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
	// Persistent mirrors the root the service lives in.
	Persistent bool `json:"persistent"`
	// Options holds the values the user set (by option name); options
	// not set have their defaults.
	Options map[string]string `json:"options,omitempty"`
	// SelfCheckKey is the x25519 private key (base32) of the daemon's own
	// client credential, used by the reachability self-check.
	SelfCheckKey string `json:"self_check_key,omitempty"`
	// PublishedAt is when the onion was first added since the service was
	// last enabled (UTC); nil while it is disabled or not published yet.
	// Records of versions before it have none.
	PublishedAt *time.Time `json:"published_at,omitempty"`
	// StopAt is when the stop-after timer withdraws the onion and
	// disables the service (PublishedAt plus the option, UTC); nil: no
	// deadline. A daemon that starts after it does not publish.
	StopAt *time.Time `json:"stop_at,omitempty"`
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

// Store holds the services' files in two roots: a persistent one (in
// Tails, the Persistent Storage) and a volatile one (under /run, gone at
// reboot). A service lives in the root its persistence option names;
// SetPersistent moves it between them as one journaled transaction
// (move.go).
type Store struct {
	// Dir is the persistent root (the daemon's --state dir).
	Dir string
	// Volatile is the volatile root.
	Volatile string
	// Fault, if set, is called at each named point of a persistence
	// move (the Fault* constants): the daemon's fault injection, for
	// tests only.
	Fault func(point string)
}

// Open checks that both roots are writable directories (creating them,
// mode 0700, if missing), finishes or undoes any move a crash interrupted,
// and returns the store.
func Open(persistent, volatile string) (*Store, error) {
	for _, dir := range []string{persistent, volatile} {
		if err := os.MkdirAll(filepath.Join(dir, "services"), 0o711); err != nil {
			return nil, fmt.Errorf("state dir %s cannot be created: %w", dir, errors.Unwrap(err))
		}
		// Backends run as users of their own and must reach their data
		// dir: the roots can be traversed, not listed.
		for _, d := range []string{dir, filepath.Join(dir, "services")} {
			if err := os.Chmod(d, 0o711); err != nil {
				return nil, fmt.Errorf("state dir %s: %w", dir, errors.Unwrap(err))
			}
		}
		probe, err := os.CreateTemp(dir, ".write-test-*")
		if err != nil {
			return nil, fmt.Errorf("state dir %s is not writable", dir)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	s := &Store{Dir: persistent, Volatile: volatile}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) servicesDir(persistent bool) string {
	if persistent {
		return filepath.Join(s.Dir, "services")
	}
	return filepath.Join(s.Volatile, "services")
}

// recover ends the moves a crash interrupted (their journals, move.go),
// removes half-made copies and, where a crash of a version without
// journals left a service in both roots, keeps the complete copy.
func (s *Store) recover() error {
	if err := s.removeStaleTemps(); err != nil {
		return err
	}
	if err := s.removeTorMoves(); err != nil {
		return err
	}
	if err := s.recoverMoves(); err != nil {
		return err
	}
	for _, p := range []bool{true, false} {
		ents, err := os.ReadDir(s.servicesDir(p))
		if err != nil {
			return err
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") && (strings.Contains(n, ".moving-") || strings.HasSuffix(n, removingName)) {
				if err := os.RemoveAll(filepath.Join(s.servicesDir(p), n)); err != nil {
					return err
				}
				continue
			}
			if !p || strings.HasPrefix(n, ".") {
				continue
			}
			if _, err := os.Stat(filepath.Join(s.servicesDir(false), n)); err != nil {
				continue
			}
			if loser := s.legacyLoser(n); loser != "" {
				if err := os.RemoveAll(loser); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// legacyLoser returns which of a service's two copies to remove when a
// version without journals crashed after renaming the copy into place:
// that one is complete and its record holds the persistence option the
// move set (the source's too, unless its removal had begun, which may
// have taken its record). A copy without a record is the source; else
// the root both records' persistence option names wins; else, for
// records without the option, the old rule: the persistent record's
// Persistent field.
func (s *Store) legacyLoser(name string) string {
	pdir, vdir := filepath.Join(s.servicesDir(true), name), filepath.Join(s.servicesDir(false), name)
	prec, perr := readRecord(filepath.Join(pdir, "service.json"))
	vrec, verr := readRecord(filepath.Join(vdir, "service.json"))
	switch {
	case perr != nil && verr == nil:
		return pdir
	case perr != nil:
		return "" // neither record reads: keep both, for the user to look at
	case verr != nil:
		return vdir
	}
	pv, pok := prec.Options[legacyPersistenceOption]
	vv, vok := vrec.Options[legacyPersistenceOption]
	if pok && vok && pv == vv {
		if pv == "true" {
			return vdir
		}
		return pdir
	}
	if prec.Persistent {
		return vdir
	}
	return pdir
}

// legacyPersistenceOption is the name of the persistence option, which
// versions without journals saved in both copies before a move.
const legacyPersistenceOption = "persistence"

// ServiceDir is where a service's files live now: its directory in the
// persistent root if there is one, else in the volatile root (the amnesic
// default for a new service).
func (s *Store) ServiceDir(name string) string {
	p := filepath.Join(s.servicesDir(true), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(s.servicesDir(false), name)
}

// IsPersistent reports whether the service lives in the persistent root.
func (s *Store) IsPersistent(name string) bool {
	_, err := os.Stat(filepath.Join(s.servicesDir(true), name))
	return err == nil
}

// KeyPath is the service's onion key, in Tor's hs_ed25519_secret_key format.
func (s *Store) KeyPath(name string) string {
	return filepath.Join(s.ServiceDir(name), "hs_ed25519_secret_key")
}

func (s *Store) recordPath(name string) string {
	return filepath.Join(s.ServiceDir(name), "service.json")
}

func readRecord(path string) (*Service, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Service
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: malformed service record: %v", path, err)
	}
	return &rec, nil
}

// Wipe removes every file of a service, in both roots.
func (s *Store) Wipe(name string) error {
	for _, p := range []bool{true, false} {
		if err := os.RemoveAll(filepath.Join(s.servicesDir(p), name)); err != nil {
			return err
		}
		if err := syncDir(s.servicesDir(p)); err != nil {
			return err
		}
	}
	return nil
}

// CopyTree copies the tree at src into the existing directory dst, as
// SetPersistent does.
func CopyTree(src, dst string) error { return copyTree(src, dst) }

// Settings are the daemon's global settings, in DIR/settings.json.
type Settings struct {
	// PersistTorState keeps the daemon's tor state (its entry guards)
	// in the persistent root.
	PersistTorState bool `json:"persist_tor_state"`
}

// LoadSettings returns the settings, or the defaults.
func (s *Store) LoadSettings() (Settings, error) {
	var st Settings
	b, err := os.ReadFile(filepath.Join(s.Dir, "settings.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: malformed settings: %v", filepath.Join(s.Dir, "settings.json"), err)
	}
	return st, nil
}

// SaveSettings writes the settings atomically.
func (s *Store) SaveSettings(st Settings) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(s.Dir, "settings.json"), append(b, '\n'), 0o600)
}

// TorDataDir is where the daemon's own tor keeps its state: the persistent
// root if persist, else the volatile one.
func (s *Store) TorDataDir(persist bool) string {
	if persist {
		return filepath.Join(s.Dir, "tor")
	}
	return filepath.Join(s.Volatile, "tor")
}

// movingSuffix names the copy of a tor DataDirectory under way to its new
// root: DIR/tor.moving, DIR/tor.2.moving for the second tor.
const movingSuffix = ".moving"

// MovingDir is where a tor DataDirectory moving to dir is copied first,
// to be renamed to dir once complete.
func MovingDir(dir string) string { return dir + movingSuffix }

// removeTorMoves removes the copies of tor DataDirectories that a crash
// left half-made (persist-tor-state, torsup's MoveDataDir): their source is
// intact, since it goes only after the rename.
func (s *Store) removeTorMoves() error {
	for _, p := range []bool{true, false} {
		tor := s.TorDataDir(p)
		root, base := filepath.Dir(tor), filepath.Base(tor)
		ents, err := os.ReadDir(root)
		if err != nil {
			return err
		}
		removed := false
		for _, e := range ents {
			n := e.Name()
			if n == base+movingSuffix || (strings.HasPrefix(n, base+".") && strings.HasSuffix(n, movingSuffix)) {
				if err := os.RemoveAll(filepath.Join(root, n)); err != nil {
					return fmt.Errorf("removing the half-made copy of tor's state %s: %w", filepath.Join(root, n), err)
				}
				removed = true
			}
		}
		if removed {
			if err := syncDir(root); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTree copies regular files, directories and symlinks (as links,
// never followed) from src into the existing directory dst, keeping modes,
// syncing every file and directory: src holds the backends' data, which
// their users write, so it walks by descriptor (safefs.CopyTree).
func copyTree(src, dst string) error { return safefs.CopyTree(src, dst) }

// Load returns the stored record of a service, or a fresh one.
func (s *Store) Load(name string) (*Service, error) {
	rec, err := readRecord(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return &Service{Name: name, Persistent: s.IsPersistent(name)}, nil
	}
	if err != nil {
		return nil, err
	}
	rec.Name = name
	rec.Persistent = s.IsPersistent(name)
	return rec, nil
}

// Save writes a service's record atomically, mode 0600.
func (s *Store) Save(rec *Service) error {
	if err := os.MkdirAll(s.ServiceDir(rec.Name), 0o711); err != nil {
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
	if err := os.MkdirAll(s.ServiceDir(name), 0o711); err != nil {
		return err
	}
	return WriteFile(s.KeyPath(name), data, 0o600)
}

// staleTemp is the name WriteFile gives its temporary file (".NAME.tmp-"
// and CreateTemp's digits).
var staleTemp = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// removeStaleTemps removes the temporary files of writes a kill cut short
// (WriteFile renames its file into place, so one left is never the only
// copy of anything): in each root, its services folder, each service's
// folder and its config folder, where the daemon writes.
func (s *Store) removeStaleTemps() error {
	for _, root := range []string{s.Dir, s.Volatile} {
		dirs := []string{root, filepath.Join(root, "services")}
		ents, err := os.ReadDir(filepath.Join(root, "services"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(root, "services", e.Name()), filepath.Join(root, "services", e.Name(), "config"))
			}
		}
		for _, dir := range dirs {
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue // a service without a config folder
			}
			for _, e := range ents {
				if e.Type().IsRegular() && staleTemp.MatchString(e.Name()) {
					if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
		}
	}
	return nil
}
