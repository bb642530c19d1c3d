package fileshare

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"tails-server/internal/safefs"
)

// Download counts: how many complete downloads each shared file had (see
// Handler.Downloads for what counts). A count belongs to one version of a
// file, known by its size and modification time: a file replaced or
// removed and added again starts from 0, and a download that completes
// from a file removed meanwhile (its open descriptor) counts for no file
// that is listed.
//
// With Config.CountsFile set, the counts are kept in that file (JSON,
// 0600, replaced atomically at each complete download), so that they
// survive a restart of the backend; the file lives wherever its folder
// lives, so it goes with the service's own persistence choice.

// MaxCounted bounds the files whose counts are kept; past it, the counts
// of files no longer there are dropped first, then new files go uncounted.
const MaxCounted = 10000

// maxCountsFile bounds the counts file read back at start.
const maxCountsFile = 4 << 20

// fileCount is the count of one version of a file.
type fileCount struct {
	Downloads int64 `json:"downloads"`
	Size      int64 `json:"size"`
	ModTime   int64 `json:"mtime_ns"`
}

func (c fileCount) is(fi fs.FileInfo) bool {
	return c.Size == fi.Size() && c.ModTime == fi.ModTime().UnixNano()
}

type countsFile struct {
	Files map[string]fileCount `json:"files"`
}

// counts are the download counts of a share.
type counts struct {
	mu     sync.Mutex
	path   string // the counts file, or "" to keep them in memory
	shared string // the shared folder
	files  map[string]fileCount
}

// loadCounts reads the counts kept in path, if any. A missing file is no
// counts; with a broken one, the error comes with empty counts (which
// the next complete download writes over it).
func loadCounts(path, shared string) (*counts, error) {
	c := &counts{path: path, shared: shared, files: map[string]fileCount{}}
	if path == "" {
		return c, nil
	}
	b, err := safefs.ReadFile(filepath.Dir(path), filepath.Base(path), maxCountsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	var f countsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return c, errors.New("malformed download counts in " + filepath.Base(path))
	}
	for name, fc := range f.Files {
		if n, err := CleanPath(name); err == nil && n == name && n != "." && len(c.files) < MaxCounted {
			c.files[name] = fc
		}
	}
	return c, nil
}

// ReadDownloads returns the download counts kept in the counts file path
// (Config.CountsFile) of the files now in the shared folder, as
// Handler.Downloads does, for a share that is not running.
func ReadDownloads(path, shared string) map[string]int64 {
	c, _ := loadCounts(path, shared)
	return c.current()
}

// add counts one complete download of each file (a version of a shared
// file, by its path), and keeps the counts: one write for them all.
func (c *counts) add(files ...zipped) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range files {
		fc, ok := c.files[f.name]
		if !ok || !fc.is(f.fi) {
			fc = fileCount{Size: f.fi.Size(), ModTime: f.fi.ModTime().UnixNano()}
		}
		fc.Downloads++
		if !ok && len(c.files) >= MaxCounted {
			c.prune()
			if len(c.files) >= MaxCounted {
				continue
			}
		}
		c.files[f.name] = fc
	}
	// Counts that cannot be written (a full disk) stay in memory, and
	// the next complete download writes them again.
	c.save()
}

// prune drops the counts of files that are not there any more, or are
// another version. Call with c.mu held.
func (c *counts) prune() {
	root, err := os.OpenRoot(c.shared)
	if err != nil {
		return
	}
	defer root.Close()
	for name, fc := range c.files {
		if fi, err := root.Stat(name); err != nil || !fc.is(fi) {
			delete(c.files, name)
		}
	}
}

// current returns the counts of the files as they are now in the shared
// folder, by slash-separated path.
func (c *counts) current() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	if len(c.files) == 0 {
		return out
	}
	root, err := os.OpenRoot(c.shared)
	if err != nil {
		return out
	}
	defer root.Close()
	for name, fc := range c.files {
		if fi, err := root.Stat(name); err == nil && fi.Mode().IsRegular() && fc.is(fi) {
			out[name] = fc.Downloads
		}
	}
	return out
}

// save writes the counts to a temporary file in the counts file's folder,
// fsyncs it and renames it over the counts file, never following a
// symlink. Call with c.mu held.
func (c *counts) save() error {
	if c.path == "" {
		return nil
	}
	b, err := json.Marshal(countsFile{Files: c.files})
	if err != nil {
		return err
	}
	dir, base := filepath.Split(c.path)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var rb [8]byte
	rand.Read(rb[:])
	tmp := base + ".tmp-" + hex.EncodeToString(rb[:])
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer root.Remove(tmp) // nothing to remove after the rename
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, base)
	}
	if err != nil {
		return err
	}
	if d, err := root.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
