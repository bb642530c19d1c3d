package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"filippo.io/age"

	"tails-server/internal/onionkey"
)

// ErrWrongKey is wrapped by the error about an archive none of the given
// identities opens: a wrong passphrase, or another recipient's archive.
var ErrWrongKey = errors.New("wrong passphrase, or an archive not encrypted to this identity")

// Limits cap what Extract accepts; zero fields take the defaults.
type Limits struct {
	// MaxBytes is the most bytes of files in total (default 1 TiB).
	MaxBytes int64
	// MaxMembers is the most members (default 1,000,000).
	MaxMembers int
}

// metaLimit caps the header and the manifest.
const (
	headerLimit   = 1 << 20
	manifestLimit = 256 << 20
)

// Extract decrypts the archive read from r with the identities and
// writes its members into dir, an existing empty directory only the
// caller writes to (mode 0700). It returns the header and the manifest
// only once the whole stream read back authenticated, every member
// matched the manifest (path, type, size, mode, SHA-256, in order) and
// each service's key gives its address; on error dir holds a partial
// extraction for the caller to remove. Every error is one line; those
// about the archive wrap ErrRefused or ErrWrongKey.
func Extract(r io.Reader, dir string, lim Limits, ids ...age.Identity) (*Header, *Manifest, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 1 << 40
	}
	if lim.MaxMembers <= 0 {
		lim.MaxMembers = 1_000_000
	}
	dec, err := age.Decrypt(r, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, nil, ErrWrongKey
		}
		if strings.Contains(err.Error(), "work factor too large") {
			return nil, nil, refused("its passphrase asks for more scrypt work than %d (tails-server writes 18): export it again with tails-server", MaxScryptWorkFactor)
		}
		return nil, nil, refused("not an age-encrypted tails-server archive, or its beginning is damaged")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	ra := newReadAhead(dec)
	defer ra.Close()
	x := &extractor{root: root, tr: tar.NewReader(ra), lim: lim, kinds: map[string]string{}}
	h, m, err := x.run()
	if err != nil {
		return nil, nil, err
	}
	// The tar stream ended: what follows must be tar's padding, and age
	// must reach its authenticated end (a cut archive fails here).
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return nil, nil, damaged(err)
	}
	// Every file and folder on disk before the caller moves them into
	// place: the files' writeback began as each was written
	// (startWriteback).
	paths := []string{"."}
	for _, e := range x.entries {
		if e.Type != TypeSymlink {
			paths = append(paths, e.Path)
		}
	}
	for _, p := range paths {
		f, err := root.Open(p)
		if err != nil {
			return nil, nil, err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	for i := len(x.entries) - 1; i >= 0; i-- {
		e := x.entries[i]
		if e.Type == TypeDir {
			if err := root.Chmod(e.Path, os.FileMode(e.Mode)|0o700); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := checkKeys(root, h, x.kinds); err != nil {
		return nil, nil, err
	}
	return h, m, nil
}

func damaged(err error) error {
	return refused("the archive is damaged or cut short (%v): copy it again, or export it again", err)
}

type extractor struct {
	root    *os.Root
	tr      *tar.Reader
	lim     Limits
	entries []Entry
	kinds   map[string]string // path -> type of the members so far
	bytes   int64
}

func (x *extractor) next() (*tar.Header, error) {
	th, err := x.tr.Next()
	if err == io.EOF {
		return nil, refused("the archive ends before its manifest: it was cut short")
	}
	if err != nil {
		return nil, damaged(err)
	}
	return th, nil
}

func (x *extractor) run() (*Header, *Manifest, error) {
	th, err := x.next()
	if err != nil {
		return nil, nil, err
	}
	if th.Name != HeaderName || th.Typeflag != tar.TypeReg {
		return nil, nil, refused("not a tails-server archive (its first member is not %s)", HeaderName)
	}
	hb, err := x.file(th, headerLimit)
	if err != nil {
		return nil, nil, err
	}
	var h Header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, nil, refused("malformed %s", HeaderName)
	}
	if h.Format > Format {
		return nil, nil, &NewerError{Got: h.Format}
	}
	if h.Format < 1 {
		return nil, nil, refused("%s has no format version", HeaderName)
	}
	for {
		th, err := x.next()
		if err != nil {
			return nil, nil, err
		}
		if th.Name == ManifestName {
			m, err := x.manifest(th)
			if err != nil {
				return nil, nil, err
			}
			if _, err := x.tr.Next(); err != io.EOF {
				return nil, nil, refused("members after the manifest")
			}
			return &h, m, nil
		}
		if len(x.entries) >= x.lim.MaxMembers {
			return nil, nil, refused("more than %d members", x.lim.MaxMembers)
		}
		if err := x.member(th); err != nil {
			return nil, nil, err
		}
	}
}

// file reads a regular member into the extraction and records it; it
// returns its content when limit > 0 (the header).
func (x *extractor) file(th *tar.Header, limit int64) ([]byte, error) {
	name := th.Name
	if th.Size < 0 || (limit > 0 && th.Size > limit) {
		return nil, refused("member %s is too large", name)
	}
	x.bytes += th.Size
	if x.bytes > x.lim.MaxBytes {
		return nil, refused("more than %d bytes of files", x.lim.MaxBytes)
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var keep strings.Builder
	w := io.MultiWriter(f, h)
	if limit > 0 {
		w = io.MultiWriter(f, h, &keep)
	}
	n, err := io.Copy(w, x.tr)
	if err != nil {
		return nil, damaged(err)
	}
	if n != th.Size {
		return nil, refused("member %s is cut short", name)
	}
	startWriteback(f)
	mode := uint32(th.Mode) & 0o777
	if err := f.Chmod(os.FileMode(mode)); err != nil {
		return nil, err
	}
	x.entries = append(x.entries, Entry{Path: name, Type: TypeFile, Size: n, Mode: mode, SHA256: hex.EncodeToString(h.Sum(nil))})
	x.kinds[name] = TypeFile
	return []byte(keep.String()), nil
}

func (x *extractor) member(th *tar.Header) error {
	name := strings.TrimSuffix(th.Name, "/")
	if err := checkPath(name); err != nil {
		return err
	}
	if _, dup := x.kinds[name]; dup || name == HeaderName || name == ManifestName {
		return refused("member %s twice", name)
	}
	// Every folder on the way is one the archive made: no member is
	// written through a symlink, nor over a file.
	if parent := path.Dir(name); parent != "." && x.kinds[parent] != TypeDir {
		return refused("member %s comes before its folder", name)
	}
	th.Name = name
	switch th.Typeflag {
	case tar.TypeReg:
		_, err := x.file(th, 0)
		return err
	case tar.TypeDir:
		if err := x.root.Mkdir(name, 0o700); err != nil {
			return err
		}
		e := Entry{Path: name, Type: TypeDir, Mode: uint32(th.Mode) & 0o777}
		x.entries = append(x.entries, e)
		x.kinds[name] = TypeDir
	case tar.TypeSymlink:
		if th.Linkname == "" || strings.ContainsRune(th.Linkname, 0) || len(th.Linkname) > 4096 {
			return refused("member %s is a malformed symlink", name)
		}
		if err := x.root.Symlink(th.Linkname, name); err != nil {
			return err
		}
		x.entries = append(x.entries, Entry{Path: name, Type: TypeSymlink, Mode: 0o777, Link: th.Linkname})
		x.kinds[name] = TypeSymlink
	default:
		return refused("member %s is neither a file, a folder nor a symlink", name)
	}
	return nil
}

func (x *extractor) manifest(th *tar.Header) (*Manifest, error) {
	if th.Typeflag != tar.TypeReg || th.Size < 0 || th.Size > manifestLimit {
		return nil, refused("malformed manifest")
	}
	b, err := io.ReadAll(io.LimitReader(x.tr, th.Size+1))
	if err != nil {
		return nil, damaged(err)
	}
	if int64(len(b)) != th.Size {
		return nil, refused("the manifest is cut short")
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, refused("malformed manifest")
	}
	if len(m.Entries) != len(x.entries) {
		return nil, refused("the manifest lists %d members, the archive holds %d", len(m.Entries), len(x.entries))
	}
	for i, e := range x.entries {
		if m.Entries[i] != e {
			return nil, refused("member %s differs from the manifest (%s)", e.Path, differs(m.Entries[i], e))
		}
	}
	return &m, nil
}

func differs(want, got Entry) string {
	switch {
	case want.Path != got.Path:
		return "manifest names " + want.Path
	case want.Type != got.Type:
		return "type"
	case want.Size != got.Size:
		return fmt.Sprintf("size %d, manifest %d", got.Size, want.Size)
	case want.SHA256 != got.SHA256:
		return "checksum"
	case want.Mode != got.Mode:
		return "mode"
	}
	return "link"
}

// checkKeys checks that each service's onion key gives the address the
// header names.
func checkKeys(root *os.Root, h *Header, kinds map[string]string) error {
	if len(h.Services) == 0 {
		return refused("the archive holds no service")
	}
	for _, s := range h.Services {
		if kinds[s.Dir] != TypeDir {
			return refused("service %s: folder %s missing", s.Name, s.Dir)
		}
		if s.Address == "" && s.Key == "" {
			continue
		}
		if kinds[s.Key] != TypeFile {
			return refused("service %s: onion key missing", s.Name)
		}
		b, err := root.ReadFile(s.Key)
		if err != nil {
			return err
		}
		k, err := onionkey.ParseSecretKeyFile(b)
		if err != nil {
			return refused("service %s: malformed onion key", s.Name)
		}
		if k.Address() != s.Address {
			return refused("service %s: its onion key is not the key of %s.onion", s.Name, s.Address)
		}
	}
	return nil
}
