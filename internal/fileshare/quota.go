package fileshare

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Reserve of free space an upload never eats into, on the filesystem of
// the received folder: 10 % of its size or 64 MiB, whichever is more. The
// volatile root is RAM (tmpfs) on Debian and Tails, so a full folder
// would starve the host's own programs.
const (
	reservePercent = 10
	reserveMin     = 64 << 20
)

// errQuota is an upload that would take the received folder over its
// quota; errNoSpace one that would leave its filesystem less free space
// than the reserve. Both are answered 507 Insufficient Storage.
var (
	errQuota   = errors.New("the received folder is full")
	errNoSpace = errors.New("the disk of the received folder is nearly full")
)

// Temporary files of uploads in progress: ".upload-RANDOM.part" at the
// top of the received folder.
const (
	partPrefix = ".upload-"
	partSuffix = ".part"
)

func isPart(name string) bool {
	return strings.HasPrefix(name, partPrefix) && strings.HasSuffix(name, partSuffix)
}

// quota keeps the bytes of the received folder within a limit and within
// the free space of its filesystem. used is what the folder held when it
// was last counted plus the uploads finished since; inflight is the bytes
// of uploads under way (their .part files). The folder is counted again
// whenever no upload is under way, so files the host removes free their
// room.
type quota struct {
	dir   string
	limit int64
	// statfs returns the free bytes (for an unprivileged user) and the
	// size of the filesystem holding dir; a test may replace it.
	statfs func(dir string) (free, size int64, err error)

	mu       sync.Mutex
	used     int64
	inflight int64
	uploads  int
}

func fsSpace(dir string) (free, size int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// folderSize is the bytes of the regular files below dir, .part files of
// uploads left out (they are counted as in flight).
func folderSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil // gone, or a subfolder it cannot read: left out
		}
		if !d.Type().IsRegular() || (filepath.Dir(p) == dir && isPart(d.Name())) {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// removeStaleParts removes the .part files that uploads cut short by a
// kill of the daemon left at the top of dir.
func removeStaleParts(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.Type().IsRegular() && isPart(de.Name()) {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// begin starts an upload, counting the folder again if none is under way.
func (q *quota) begin() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.uploads == 0 {
		n, err := folderSize(q.dir)
		if err != nil {
			return err
		}
		q.used, q.inflight = n, 0
	}
	q.uploads++
	return nil
}

// end ends an upload; call it once for each begin that succeeded.
func (q *quota) end() {
	q.mu.Lock()
	q.uploads--
	q.mu.Unlock()
}

// room reports whether n more bytes would fit, without taking them.
func (q *quota) room(n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fits(n)
}

func (q *quota) fits(n int64) error {
	if q.used+q.inflight+n > q.limit {
		return errQuota
	}
	free, size, err := q.statfs(q.dir)
	if err != nil {
		return err
	}
	if free-n < max(size/100*reservePercent, reserveMin) {
		return errNoSpace
	}
	return nil
}

// take reserves n bytes for an upload under way.
func (q *quota) take(n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.fits(n); err != nil {
		return err
	}
	q.inflight += n
	return nil
}

// release gives back n bytes of an upload that failed.
func (q *quota) release(n int64) {
	q.mu.Lock()
	q.inflight -= n
	q.mu.Unlock()
}

// keep turns n bytes of an upload under way into bytes of the folder.
func (q *quota) keep(n int64) {
	q.mu.Lock()
	q.inflight -= n
	q.used += n
	q.mu.Unlock()
}

// drop forgets n bytes of a kept file that was removed again.
func (q *quota) drop(n int64) {
	q.mu.Lock()
	q.used -= n
	q.mu.Unlock()
}

// quotaWriter writes to w what the quota lets through.
type quotaWriter struct {
	w     *os.File
	q     *quota
	taken int64
}

func (qw *quotaWriter) Write(b []byte) (int, error) {
	if err := qw.q.take(int64(len(b))); err != nil {
		return 0, err
	}
	qw.taken += int64(len(b))
	return qw.w.Write(b)
}
