package services

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"

	"tails-server/internal/archive"
	"tails-server/internal/health"
	"tails-server/internal/safefs"
)

// Export writes what a hosted service is (its record with its clients and
// their keys and its options, its onion key, its rendered config, its data
// and content) as an encrypted archive (internal/archive); an export of
// everything adds the daemon's settings, and tor's state when it is
// persisted. The files are read while the service runs, each under the
// service's operation lock (no enable, disable or client change meanwhile);
// what a backend's user can write is read through safefs, never following
// a link, each file exactly the size it had when opened.

// servicesMember is the archive folder that holds the services.
const servicesMember = "services"

// settingsMember and torMember hold the daemon's settings and tor's
// state in an archive of everything.
const (
	settingsMember = "settings.json"
	torMember      = "tor"
)

// ExportPlan is an export whose services were checked: WriteTo writes it.
type ExportPlan struct {
	m    *Manager
	all  bool
	svcs []*service
}

// PlanExport checks what an export of name (or, all, of every service
// that has files here) would write, before anything is.
func (m *Manager) PlanExport(name string, all bool) (*ExportPlan, error) {
	p := &ExportPlan{m: m, all: all}
	if all {
		for _, s := range m.all() {
			if _, err := os.Stat(m.store.ServiceDir(s.def.Name)); err == nil {
				p.svcs = append(p.svcs, s)
			}
		}
		return p, nil
	}
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	keyless := s.key == nil
	s.mu.Unlock()
	if keyless {
		return nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s has no onion key yet: there is nothing to export", name),
			Hint: fmt.Sprintf("`tails-server enable %s` makes its key and address", name)}
	}
	p.svcs = []*service{s}
	return p, nil
}

// Services names the services the plan exports.
func (p *ExportPlan) Services() []string {
	var out []string
	for _, s := range p.svcs {
		out = append(out, s.def.Name)
	}
	return out
}

// WriteTo writes the archive to w, encrypted to r.
func (p *ExportPlan) WriteTo(w io.Writer, r age.Recipient, version string) error {
	h := archive.Header{Kind: archive.KindService, Version: version}
	if p.all {
		h.Kind = archive.KindAll
	}
	for _, s := range p.svcs {
		s.mu.Lock()
		e := archive.Service{Name: s.def.Name, Dir: servicesMember + "/" + s.def.Name}
		if s.key != nil {
			e.Address = s.key.Address()
			e.Key = e.Dir + "/hs_ed25519_secret_key"
		}
		s.mu.Unlock()
		h.Services = append(h.Services, e)
	}
	aw, err := archive.NewWriter(w, h, r)
	if err != nil {
		return err
	}
	if err := p.write(aw, h); err != nil {
		aw.Abort()
		return err
	}
	return aw.Close()
}

func (p *ExportPlan) write(aw *archive.Writer, h archive.Header) error {
	if err := aw.Dir(servicesMember, 0o711); err != nil {
		return err
	}
	for i, s := range p.svcs {
		if err := p.m.exportService(aw, s, h.Services[i]); err != nil {
			return fmt.Errorf("exporting %s: %w", s.def.Name, err)
		}
	}
	if p.all {
		return p.m.exportDaemon(aw)
	}
	return nil
}

// exportService writes one service's folder, under its operation lock.
func (m *Manager) exportService(aw *archive.Writer, s *service, e archive.Service) error {
	s.op.Lock()
	defer s.op.Unlock()
	dir := m.store.ServiceDir(s.def.Name)
	if err := aw.Dir(e.Dir, 0o711); err != nil {
		return err
	}
	if e.Key != "" {
		// The key first, from the store's own file: the address the
		// header names is the one it gives.
		if err := exportFile(aw, dir, "hs_ed25519_secret_key", e.Key); err != nil {
			return err
		}
	}
	return exportTree(aw, dir, ".", e.Dir, func(rel string) bool {
		switch rel {
		case "hs_ed25519_secret_key", "backend.log", health.FileName:
			return false // written above; this host's logs
		}
		base := path.Base(rel)
		return !strings.HasPrefix(base, ".") // temporary files, adds under way
	})
}

// exportDaemon writes the settings, and tor's state when persisted.
func (m *Manager) exportDaemon(aw *archive.Writer) error {
	st, err := m.store.LoadSettings()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(m.store.Dir, settingsMember)); err == nil {
		if err := exportFile(aw, m.store.Dir, settingsMember, settingsMember); err != nil {
			return err
		}
	}
	if !st.PersistTorState {
		return nil
	}
	tor := m.store.TorDataDir(true)
	if _, err := os.Stat(tor); err != nil {
		return nil
	}
	if err := aw.Dir(torMember, 0o700); err != nil {
		return err
	}
	// tor's state (its guards), not its caches, keys of its own
	// (rebuilt) nor its lock and sockets.
	return exportTree(aw, tor, ".", torMember, func(rel string) bool { return rel == "state" })
}

// exportFile writes the regular file rel of dir as member name.
func exportFile(aw *archive.Writer, dir, rel, name string) error {
	f, err := safefs.OpenRegular(dir, rel)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return aw.File(name, fi.Mode(), fi.Size(), f)
}

// exportTree writes the entries of the folder rel of dir (and below) that
// keep says to, as members under prefix: folders, regular files (through
// safefs: no symlink followed on the way, the type checked on the opened
// file) and symlinks (as links). Other types (FIFOs, sockets, devices)
// are left out.
func exportTree(aw *archive.Writer, dir, rel, prefix string, keep func(string) bool) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return exportWalk(aw, root, dir, rel, prefix, keep)
}

func exportWalk(aw *archive.Writer, root *os.Root, dir, rel, prefix string, keep func(string) bool) error {
	d, err := root.Open(rel)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		p := path.Join(rel, e.Name())
		if !keep(p) {
			continue
		}
		member := prefix + "/" + p
		switch t := e.Type(); {
		case t.IsDir():
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if err := aw.Dir(member, fi.Mode()); err != nil {
				return err
			}
			if err := exportWalk(aw, root, dir, p, prefix, keep); err != nil {
				return err
			}
		case t.IsRegular():
			err := exportFile(aw, dir, p, member)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			target, err := root.Readlink(p)
			if err != nil {
				return err
			}
			if err := aw.Symlink(member, target); err != nil {
				return err
			}
		}
	}
	return nil
}
