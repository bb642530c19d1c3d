package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"tails-server/internal/safefs"
)

// A persistence move is one journaled transaction. Before anything moves,
// a journal (.NAME.move.json in the persistent root's services dir, which
// a reboot keeps) records the service, both roots and the option value
// the move sets. Then: the files are copied into .NAME.moving-copy in the
// destination root and synced; that copy is renamed into place (the
// switch); the option is saved in the moved record; the source is renamed
// to .NAME.removing and removed; the journal goes last. Recovery
// (RecoverMove, run by Open for every journal and before every move)
// reads the journal and ends in one state: before the switch the copy is
// removed and the files stay where they were, with the old option; after
// it the option is saved and the source removed. The only complete copy
// is never removed: before the switch the source is untouched, after it
// the destination is complete.

// Move steps, as recorded in the journal.
const (
	stepCopying  = "copying"
	stepSwitched = "switched"
)

// Fault points of a move, named persistence-move:POINT for Store.Fault.
const (
	FaultJournal       = "persistence-move:journal"        // journal written
	FaultMidCopy       = "persistence-move:mid-copy"       // first file copied, the others not
	FaultCopied        = "persistence-move:copied"         // copy complete and synced
	FaultSwitched      = "persistence-move:switched"       // copy renamed into place
	FaultOptionSaved   = "persistence-move:option-saved"   // option saved in the moved record
	FaultSourceRemoved = "persistence-move:source-removed" // source removed, journal not yet
)

// FaultPoints are the fault points of a move, in order.
var FaultPoints = []string{FaultJournal, FaultMidCopy, FaultCopied, FaultSwitched, FaultOptionSaved, FaultSourceRemoved}

// moveJournal is the record of a move under way.
type moveJournal struct {
	Service string `json:"service"`
	// From and To are the roots, for whoever reads the file; recovery
	// goes by Persistent, the destination.
	From       string `json:"from"`
	To         string `json:"to"`
	Persistent bool   `json:"persistent"`
	// Option, if not empty, is set to Value in the moved record.
	Option string `json:"option,omitempty"`
	Value  string `json:"value,omitempty"`
	Step   string `json:"step"`
}

const (
	journalSuffix = ".move.json"
	copySuffix    = ".moving-copy"
	removingName  = ".removing"
)

func (s *Store) journalPath(name string) string {
	return filepath.Join(s.servicesDir(true), "."+name+journalSuffix)
}

func (s *Store) root(persistent bool) string {
	if persistent {
		return s.Dir
	}
	return s.Volatile
}

func (s *Store) fault(point string) {
	if s.Fault != nil {
		s.Fault(point)
	}
}

func (s *Store) writeJournal(j *moveJournal) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(s.journalPath(j.Service), append(b, '\n'), 0o600)
}

func (s *Store) removeJournal(name string) error {
	if err := os.Remove(s.journalPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(s.servicesDir(true))
}

// SetPersistent moves a service's files (record, key, clients, config,
// data) to the persistent or the volatile root as one journaled
// transaction, and sets option (if not empty) to value in the moved
// record. On an error before the switch the files stay where they were,
// the record unchanged; an error after it leaves the journal for
// recovery to finish.
func (s *Store) SetPersistent(name string, persistent bool, option, value string) error {
	if err := s.RecoverMove(name); err != nil {
		return err
	}
	from := s.IsPersistent(name)
	src := filepath.Join(s.servicesDir(from), name)
	if _, err := os.Stat(src); from == persistent || errors.Is(err, fs.ErrNotExist) {
		// Nothing to move: the record says where the files are.
		if err := os.MkdirAll(filepath.Join(s.servicesDir(persistent), name), 0o711); err != nil {
			return err
		}
		rec, err := s.Load(name)
		if err != nil {
			return err
		}
		setOption(rec, option, value)
		return s.Save(rec)
	}
	j := &moveJournal{Service: name, From: s.root(from), To: s.root(persistent), Persistent: persistent,
		Option: option, Value: value, Step: stepCopying}
	if err := s.writeJournal(j); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the journal's temp file
		}
		return fmt.Errorf("recording the move of %s in %s: %w", name, s.journalPath(name), err)
	}
	s.fault(FaultJournal)
	parent := s.servicesDir(persistent)
	tmp := filepath.Join(parent, "."+name+copySuffix)
	undo := func(err error) error {
		if rerr := removeIfThere(tmp); rerr != nil {
			return fmt.Errorf("%w; removing the half-made copy %s: %v", err, tmp, rerr)
		}
		if rerr := s.removeJournal(name); rerr != nil {
			return fmt.Errorf("%w; removing the move's journal: %v", err, rerr)
		}
		return err
	}
	if err := removeIfThere(tmp); err != nil {
		return undo(err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return undo(fmt.Errorf("moving %s to %s: %w", name, parent, errors.Unwrap(err)))
	}
	first := true
	err := safefs.CopyTreeEach(src, tmp, func(string) {
		if first {
			first = false
			s.fault(FaultMidCopy)
		}
	})
	if err != nil {
		return undo(fmt.Errorf("copying %s to %s: %w", name, parent, err))
	}
	s.fault(FaultCopied)
	if err := os.Rename(tmp, filepath.Join(parent, name)); err != nil {
		return undo(err)
	}
	// Switched: from here on the move goes forward.
	s.fault(FaultSwitched)
	return s.finishMove(j)
}

// finishMove completes a move after the switch: the option saved in the
// moved record, the source removed, then the journal.
func (s *Store) finishMove(j *moveJournal) error {
	name := j.Service
	parent := s.servicesDir(j.Persistent)
	if err := syncDir(parent); err != nil {
		return err
	}
	dst := filepath.Join(parent, name)
	if _, err := os.Stat(dst); err == nil {
		// A reboot that wipes a volatile destination from here on must
		// not bring back a source half removed.
		if j.Step != stepSwitched {
			j.Step = stepSwitched
			if err := s.writeJournal(j); err != nil {
				return fmt.Errorf("recording the move of %s: %w", name, err)
			}
		}
		if err := s.saveMoved(dst, j); err != nil {
			return fmt.Errorf("saving the moved record of %s: %w", name, err)
		}
		s.fault(FaultOptionSaved)
	}
	srcParent := s.servicesDir(!j.Persistent)
	src := filepath.Join(srcParent, name)
	if _, err := os.Stat(src); err == nil {
		// The source leaves its name at once (one rename), so that
		// no one takes what is left of it for the service.
		gone := filepath.Join(srcParent, "."+name+removingName)
		if err := removeIfThere(gone); err != nil {
			return err
		}
		if err := os.Rename(src, gone); err != nil {
			return fmt.Errorf("removing the old copy of %s: %w", name, err)
		}
		if err := syncDir(srcParent); err != nil {
			return err
		}
		if err := os.RemoveAll(gone); err != nil {
			return fmt.Errorf("removing the old copy of %s: %w", name, err)
		}
		if err := syncDir(srcParent); err != nil {
			return err
		}
	}
	s.fault(FaultSourceRemoved)
	return s.removeJournal(name)
}

// saveMoved writes the moved record at dst with the journal's option.
func (s *Store) saveMoved(dst string, j *moveJournal) error {
	path := filepath.Join(dst, "service.json")
	rec, err := readRecord(path)
	if errors.Is(err, fs.ErrNotExist) {
		rec, err = &Service{Name: j.Service}, nil
	}
	if err != nil {
		return err
	}
	rec.Persistent = j.Persistent
	setOption(rec, j.Option, j.Value)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(b, '\n'), 0o600)
}

func setOption(rec *Service, option, value string) {
	if option == "" {
		return
	}
	if rec.Options == nil {
		rec.Options = map[string]string{}
	}
	rec.Options[option] = value
}

// RecoverMove ends a move of the service that a crash (or a failure
// after the switch) interrupted, if its journal is there: rolled back if
// the copy was not renamed into place yet, else finished.
func (s *Store) RecoverMove(name string) error {
	b, err := os.ReadFile(s.journalPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j moveJournal
	if err := json.Unmarshal(b, &j); err != nil || j.Service != name {
		return fmt.Errorf("%s: malformed journal of a move of %s (%v): check which of %s and %s holds its files, remove the other copy and this file",
			s.journalPath(name), name, err, filepath.Join(s.servicesDir(true), name), filepath.Join(s.servicesDir(false), name))
	}
	_, err = os.Stat(filepath.Join(s.servicesDir(j.Persistent), name))
	if err == nil || j.Step == stepSwitched {
		return s.finishMove(&j)
	}
	tmp := filepath.Join(s.servicesDir(j.Persistent), "."+name+copySuffix)
	if _, err := os.Lstat(tmp); err == nil {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := syncDir(s.servicesDir(j.Persistent)); err != nil {
			return err
		}
	}
	return s.removeJournal(name)
}

// removeIfThere removes the tree at path if there is one: RemoveAll
// fails on a read-only file system even when there is nothing to remove.
func removeIfThere(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return os.RemoveAll(path)
}

// recoverMoves runs RecoverMove for every journal in the persistent root.
func (s *Store) recoverMoves() error {
	ents, err := os.ReadDir(s.servicesDir(true))
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, journalSuffix) {
			continue
		}
		if err := s.RecoverMove(strings.TrimSuffix(strings.TrimPrefix(n, "."), journalSuffix)); err != nil {
			return err
		}
	}
	return nil
}
