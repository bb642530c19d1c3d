package services

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"tails-server/internal/apitype"
	"tails-server/internal/archive"
	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
)

// Import takes an archive of Export in two steps. StartImport decrypts
// it and checks all of it (archive.Extract: format, every member against
// the manifest, each key against its address; then every record and
// client key) into a staging folder of the state dir (mode 0700, the
// same file system as the persistent root), and returns a preview;
// nothing else is touched. ApplyImport moves each service into place in
// one rename: a copy under a dot name beside it (".NAME.moving-import-ID",
// which the store's recovery removes at the daemon's start), then
// renameat2's exchange with the folder the service had here, or a plain
// rename when it had none; a kill at any instant leaves the service
// either as it was or as imported. A service is imported disabled.
// Staging folders a crash left are removed when the manager starts.

// importPrefix starts the names of the staging folders, in the state dir.
const importPrefix = ".import-"

// importTTL is how long a staged import waits for apply or cancel.
const importTTL = time.Hour

// imports are the staged imports, by id.
type imports struct {
	mu sync.Mutex
	m  map[string]*pendingImport
}

func (m *Manager) imports() *imports {
	m.staged.mu.Lock()
	if m.staged.m == nil {
		m.staged.m = map[string]*pendingImport{}
	}
	m.staged.mu.Unlock()
	return &m.staged
}

type pendingImport struct {
	id      string
	dir     string
	created time.Time
	preview apitype.ImportPreview
	targets []importTarget
}

type importTarget struct {
	from, to string
	address  string
}

// removeStaleImports removes the staging folders a crash left.
func (m *Manager) removeStaleImports() {
	ents, err := os.ReadDir(m.store.Dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), importPrefix) {
			if err := os.RemoveAll(filepath.Join(m.store.Dir, e.Name())); err != nil {
				m.log.Warn("removing a staged import", "dir", e.Name(), "err", err)
			}
		}
	}
}

func badArchive(err error) error {
	switch {
	case errors.Is(err, archive.ErrWrongKey):
		return &Error{Status: http.StatusBadRequest, Msg: err.Error(),
			Hint: "give the passphrase it was exported with, or --identity FILE with the age identity of its --recipient"}
	case errors.Is(err, archive.ErrRefused):
		return &Error{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	return err
}

// StartImport stages and checks the archive read from body, and returns
// its preview.
func (m *Manager) StartImport(ctx context.Context, req apitype.ImportRequest, body io.Reader) (apitype.ImportPreview, error) {
	var ids []age.Identity
	switch {
	case req.Identity != "":
		var err error
		if ids, err = archive.Identities([]byte(req.Identity)); err != nil {
			return apitype.ImportPreview{}, &Error{Status: http.StatusBadRequest, Msg: err.Error()}
		}
	case req.Passphrase != "":
		id, err := archive.PassphraseIdentity(req.Passphrase)
		if err != nil {
			return apitype.ImportPreview{}, err
		}
		ids = []age.Identity{id}
	default:
		return apitype.ImportPreview{}, &Error{Status: http.StatusBadRequest, Msg: "no passphrase nor identity to open the archive with",
			Hint: "give the archive's passphrase, or --identity FILE for an archive exported with --recipient"}
	}
	m.expireImports()
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	dir := filepath.Join(m.store.Dir, importPrefix+id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return apitype.ImportPreview{}, err
	}
	p, err := m.stage(req, body, id, dir, ids)
	if err != nil {
		os.RemoveAll(dir)
		return apitype.ImportPreview{}, err
	}
	im := m.imports()
	im.mu.Lock()
	im.m[id] = p
	im.mu.Unlock()
	return p.preview, nil
}

func (m *Manager) stage(req apitype.ImportRequest, body io.Reader, id, dir string, ids []age.Identity) (*pendingImport, error) {
	var lim archive.Limits
	var fs syscall.Statfs_t
	if syscall.Statfs(m.store.Dir, &fs) == nil {
		// Leave some room: the state dir holds the daemon's own records.
		lim.MaxBytes = max(int64(fs.Bavail)*int64(fs.Bsize)-64<<20, 1)
	}
	h, man, err := archive.Extract(body, dir, lim, ids...)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) || (lim.MaxBytes > 0 && strings.Contains(err.Error(), "bytes of files")) {
			return nil, &Error{Status: http.StatusInsufficientStorage, Msg: "the archive does not fit in the state dir's free space",
				Hint: "free some space in " + m.store.Dir}
		}
		return nil, badArchive(err)
	}
	if req.As != "" && len(h.Services) != 1 {
		return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("--as names one service; the archive holds %d", len(h.Services)),
			Hint: "import it without --as"}
	}
	p := &pendingImport{id: id, dir: dir, created: time.Now(), preview: apitype.ImportPreview{ID: id, Kind: h.Kind, Created: h.Created, Format: h.Format}}
	seen := map[string]bool{}
	for _, hs := range h.Services {
		to := hs.Name
		if req.As != "" {
			to = req.As
		}
		if seen[to] {
			return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("the archive holds %s twice", to)}
		}
		seen[to] = true
		s, err := m.get(to)
		if err != nil {
			return nil, err
		}
		rec, err := readStagedRecord(filepath.Join(dir, filepath.FromSlash(hs.Dir)))
		if err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("archive refused: service %s: %v", hs.Name, err)}
		}
		is := apitype.ImportService{Name: to, OnionAddress: hs.Address, Clients: []string{}, Options: map[string]string{},
			Persistent: rec.Options[catalog.OptPersistence] == "true"}
		if to != hs.Name {
			is.From = hs.Name
		}
		if hs.Address != "" {
			is.OnionAddress = hs.Address + ".onion"
		}
		for _, c := range rec.Clients {
			is.Clients = append(is.Clients, c.Name)
		}
		for k, v := range rec.Options {
			if o, ok := findOption(s.def, k); ok && o.Type == catalog.TypeSecret {
				v = "(secret)"
			}
			is.Options[k] = v
		}
		for _, e := range man.Entries {
			if e.Type == archive.TypeFile && strings.HasPrefix(e.Path, hs.Dir+"/") {
				is.Files++
				is.Bytes += e.Size
			}
		}
		is.Existing = m.existing(s, hs.Address)
		p.preview.Services = append(p.preview.Services, is)
		p.targets = append(p.targets, importTarget{from: hs.Name, to: to, address: hs.Address})
	}
	if b, err := os.ReadFile(filepath.Join(dir, settingsMember)); err == nil {
		var st store.Settings
		if json.Unmarshal(b, &st) == nil {
			p.preview.Settings = map[string]string{"persist-tor-state": fmt.Sprint(st.PersistTorState)}
			p.preview.Notes = append(p.preview.Notes, "the settings are not applied: set them here with `tails-server settings set`")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, torMember)); err == nil {
		p.preview.Notes = append(p.preview.Notes, "tor's state (its entry guards) is not applied: this host's tor keeps its own")
	}
	return p, nil
}

// readStagedRecord reads and checks a staged service's record: its
// client keys and self-check key must parse.
func readStagedRecord(dir string) (*store.Service, error) {
	b, err := os.ReadFile(filepath.Join(dir, "service.json"))
	if err != nil {
		return nil, errors.New("no service.json")
	}
	var rec store.Service
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, errors.New("malformed service.json")
	}
	for _, c := range rec.Clients {
		if _, err := onionkey.ParseClientPrivateBase32(c.PrivateKey); err != nil {
			return nil, fmt.Errorf("client %q: malformed key", c.Name)
		}
	}
	if rec.SelfCheckKey != "" {
		if _, err := onionkey.ParseClientPrivateBase32(rec.SelfCheckKey); err != nil {
			return nil, errors.New("malformed self-check key")
		}
	}
	return &rec, nil
}

// existing says what a service here is to an import of address: "none"
// (no key), "same key" or "another key".
func (m *Manager) existing(s *service, address string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.key == nil:
		return "none"
	case s.key.Address() == address:
		return "same key"
	}
	return "another key"
}

func (m *Manager) expireImports() {
	im := m.imports()
	im.mu.Lock()
	defer im.mu.Unlock()
	for id, p := range im.m {
		if time.Since(p.created) > importTTL {
			os.RemoveAll(p.dir)
			delete(im.m, id)
		}
	}
}

func (m *Manager) takeImport(id string) (*pendingImport, error) {
	im := m.imports()
	im.mu.Lock()
	defer im.mu.Unlock()
	p, ok := im.m[id]
	if !ok {
		return nil, notFound("no staged import %q (imports wait %v for apply)", id, importTTL)
	}
	delete(im.m, id)
	return p, nil
}

// CancelImport removes a staged import.
func (m *Manager) CancelImport(id string) error {
	p, err := m.takeImport(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(p.dir)
}

// ApplyImport moves the services of a staged import into place, each
// disabled. A service here with another key is replaced only if replace;
// an enabled one never (disable it first). Every service is checked
// before the first is moved.
func (m *Manager) ApplyImport(ctx context.Context, id string, replace bool) (apitype.ImportResult, error) {
	var res apitype.ImportResult
	p, err := m.takeImport(id)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(p.dir)
	var locked []*service
	defer func() {
		for _, s := range locked {
			s.op.Unlock()
		}
	}()
	for _, t := range p.targets {
		s, err := m.get(t.to)
		if err != nil {
			return res, err
		}
		s.op.Lock()
		locked = append(locked, s)
		if err := m.canImport(s, t, replace); err != nil {
			return res, err
		}
	}
	for i, t := range p.targets {
		if err := m.place(locked[i], p, t); err != nil {
			return res, fmt.Errorf("importing %s: %w", t.to, err)
		}
		m.log.Info("service imported", "service", t.to, "from", t.from)
		res.Services = append(res.Services, t.to)
	}
	return res, nil
}

// canImport checks that t may go in place of s. Call with s.op held.
func (m *Manager) canImport(s *service, t importTarget, replace bool) error {
	s.mu.Lock()
	enabled, state := s.rec.Enabled, s.state
	s.mu.Unlock()
	if enabled || state != apitype.StateDisabled {
		return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s is enabled here: an import replaces a disabled service only", t.to),
			Hint: fmt.Sprintf("`tails-server disable %s` first, then import again", t.to)}
	}
	if m.existing(s, t.address) == "another key" && !replace {
		return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s here has another onion key (%s.onion): import with --replace to replace it and its address for good, or with --as NAME under another name", t.to, s.rec.Address)}
	}
	for _, o := range m.all() {
		if o == s || t.address == "" {
			continue
		}
		o.mu.Lock()
		same := o.key != nil && o.key.Address() == t.address
		o.mu.Unlock()
		if same {
			return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s.onion is already %s's here: one key cannot carry two services", t.address, o.def.Name),
				Hint: fmt.Sprintf("import it as %s (--as %s), or remove %s first", o.def.Name, o.def.Name, o.def.Name)}
		}
	}
	return nil
}

// place moves one staged service into place (see the package comment on
// Import) and reloads it. Call with s.op held.
func (m *Manager) place(s *service, p *pendingImport, t importTarget) error {
	staged := filepath.Join(p.dir, servicesMember, t.from)
	rec, err := readStagedRecord(staged)
	if err != nil {
		return err
	}
	want := rec.Options[catalog.OptPersistence] == "true"
	rec.Name, rec.Enabled, rec.Persistent, rec.PublishedAt, rec.StopAt = t.to, false, want, nil, nil
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := store.WriteFile(filepath.Join(staged, "service.json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	// Where the service is now, if anywhere; else where its
	// persistence option says.
	persistent := want
	if _, err := os.Stat(filepath.Join(m.store.Dir, servicesMember, t.to)); err == nil {
		persistent = true
	} else if _, err := os.Stat(filepath.Join(m.store.Volatile, servicesMember, t.to)); err == nil {
		persistent = false
	}
	root := filepath.Join(m.store.Volatile, servicesMember)
	if persistent {
		root = filepath.Join(m.store.Dir, servicesMember)
	}
	tmpName := "." + t.to + ".moving-import-" + p.id
	tmp := filepath.Join(root, tmpName)
	if err := os.Rename(staged, tmp); err != nil {
		// Another file system (the volatile root on a tmpfs): copy.
		if err := os.Mkdir(tmp, 0o711); err != nil {
			return err
		}
		if err := store.CopyTree(staged, tmp); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	}
	if err := store.SyncDir(root); err != nil {
		return err
	}
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := os.Lstat(filepath.Join(root, t.to)); err == nil {
		if err := renameat2(d, tmpName, d, t.to, renameExchange); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	} else if err := renameat2(d, tmpName, d, t.to, renameNoReplace); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := store.SyncDir(root); err != nil {
		return err
	}
	// What was here before is now under the dot name: removed in the
	// background (the store's recovery removes it after a crash).
	go func() {
		if err := os.RemoveAll(tmp); err != nil {
			m.log.Warn("removing the replaced copy", "service", t.to, "err", err)
		}
	}()
	if persistent != want {
		if err := m.store.SetPersistent(t.to, want, catalog.OptPersistence, fmt.Sprint(want)); err != nil {
			return err
		}
	}
	return m.reloadImported(s)
}

// reloadImported reads a service's record and keys again from the store. Call
// with s.op held.
func (m *Manager) reloadImported(s *service) error {
	rec, err := m.store.Load(s.def.Name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec, s.key, s.selfKey = rec, nil, nil
	return m.loadKeys(s)
}
