// Package archive is the format of tails-server's export archives: one
// file that holds everything a hosted service is (or everything a daemon
// holds), encrypted, so that it can be carried to another host.
//
// An archive is a tar stream (archive/tar) encrypted with age
// (filippo.io/age). Tar, because it streams: the writer never needs the
// whole data folder in memory nor a second pass, and a member's size is in
// its own header; it carries modes and symlinks, and every system can list
// it once decrypted (`age -d FILE | tar -t`). Age, because it is small, has
// one well-reviewed format with no knobs, encrypts to a passphrase (scrypt)
// or to a public key (X25519), and its STREAM construction authenticates
// every 64 KiB chunk and the end of the stream: a changed byte, a cut or
// reordered chunk is an error on reading, not wrong data.
//
// The first member, HeaderName, is the format version and what the
// archive holds (JSON, Header); the last, ManifestName, lists every other
// member's path, type, size, mode and SHA-256 (JSON, Manifest), so that the
// writer streams in one pass and the reader checks everything against it.
// Extract writes the members into a fresh directory and returns only once
// the whole archive read back and matched its manifest, and each
// service's onion key gives the address the header names: a caller moves
// what it extracted into place only after that.
package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"filippo.io/age"
)

// Format is the version of the format this package writes; Extract
// refuses an archive of a newer one.
const Format = 1

// HeaderName is the first member: the Header, JSON.
const HeaderName = "tails-server-archive.json"

// ManifestName is the last member: the Manifest, JSON.
const ManifestName = "tails-server-manifest.json"

// Kinds of archives (Header.Kind).
const (
	// KindService holds one service.
	KindService = "service"
	// KindAll holds every service of a daemon and its settings.
	KindAll = "all"
)

// Header says what an archive is.
type Header struct {
	// Format is the version of the format (Format when written).
	Format int `json:"format"`
	// Created is when the archive was written, UTC.
	Created time.Time `json:"created"`
	// Kind is KindService or KindAll.
	Kind string `json:"kind"`
	// Version is the tails-server that wrote it.
	Version string `json:"version,omitempty"`
	// Services are the services it holds.
	Services []Service `json:"services"`
}

// Service is one service of an archive.
type Service struct {
	// Name is the service's name on the host that exported it.
	Name string `json:"name"`
	// Address is its onion address, without ".onion"; "" for a
	// service that had no key yet.
	Address string `json:"address,omitempty"`
	// Dir is the member folder that holds its files
	// ("services/NAME").
	Dir string `json:"dir"`
	// Key is the member that holds its onion key, in Tor's
	// hs_ed25519_secret_key format; "" when Address is.
	Key string `json:"key,omitempty"`
}

// Entry is one member in the manifest.
type Entry struct {
	// Path is the member's path, slash-separated, relative.
	Path string `json:"path"`
	// Type is "file", "dir" or "symlink".
	Type string `json:"type"`
	// Size is a file's size in bytes.
	Size int64 `json:"size,omitempty"`
	// Mode is the permission bits (0o7777 at most).
	Mode uint32 `json:"mode"`
	// SHA256 is a file's checksum, hex.
	SHA256 string `json:"sha256,omitempty"`
	// Link is a symlink's target.
	Link string `json:"link,omitempty"`
}

// Manifest lists every member but itself, in order.
type Manifest struct {
	Entries []Entry `json:"entries"`
}

// Entry types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// ErrRefused is wrapped by every error about an archive that is not a
// complete, unchanged tails-server archive this version can read.
var ErrRefused = errors.New("archive refused")

// refused returns an error wrapping ErrRefused.
func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// NewerError is the error about an archive of a newer format.
type NewerError struct{ Got int }

func (e *NewerError) Error() string {
	return fmt.Sprintf("archive format %d is newer than this tails-server (%d): upgrade tails-server", e.Got, Format)
}

// Unwrap makes it an ErrRefused.
func (e *NewerError) Unwrap() error { return ErrRefused }

// Passphrase returns the age recipient of a passphrase (scrypt, age's
// default work factor). An empty passphrase is refused.
func Passphrase(p string) (age.Recipient, error) {
	if p == "" {
		return nil, errors.New("the passphrase is empty")
	}
	return age.NewScryptRecipient(p)
}

// MaxScryptWorkFactor is the most scrypt work (log2 N) an archive's
// passphrase may ask of the daemon: one more than age writes (18: about
// a second and 256 MiB), so that a hostile archive cannot make it spend
// 4 GiB and a quarter of a minute (age's own limit, 22).
const MaxScryptWorkFactor = 19

// PassphraseIdentity returns the age identity of a passphrase.
func PassphraseIdentity(p string) (age.Identity, error) {
	if p == "" {
		return nil, errors.New("the passphrase is empty")
	}
	id, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, err
	}
	id.SetMaxWorkFactor(MaxScryptWorkFactor)
	return id, nil
}

// Recipient parses an age X25519 recipient ("age1..."). Its errors never
// quote the input.
func Recipient(s string) (age.Recipient, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("malformed age recipient: want one like age1... (age-keygen -y shows yours)")
	}
	return r, nil
}

// Identities parses an age identity file (AGE-SECRET-KEY-1... lines,
// comments). Its errors never quote the input.
func Identities(b []byte) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(string(b)))
	if err != nil {
		return nil, errors.New("malformed age identity file: want the file age-keygen wrote (AGE-SECRET-KEY-1... lines)")
	}
	return ids, nil
}

// Writer writes an archive: NewWriter writes the header, Dir, File and
// Symlink each add a member, Close writes the manifest and ends the
// stream. Nothing is buffered beyond one age chunk and tar's block.
type Writer struct {
	enc     io.WriteCloser
	wb      *writeBehind
	tw      *tar.Writer
	entries []Entry
	seen    map[string]bool
	mtime   time.Time
}

// NewWriter starts an archive on w, encrypted to the recipients, with
// h as its first member (its Format and Created are set here).
func NewWriter(w io.Writer, h Header, recipients ...age.Recipient) (*Writer, error) {
	enc, err := age.Encrypt(w, recipients...)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	h.Format, h.Created = Format, now
	wb := newWriteBehind(enc)
	aw := &Writer{enc: enc, wb: wb, tw: tar.NewWriter(wb), seen: map[string]bool{}, mtime: now}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := aw.File(HeaderName, 0o600, int64(len(b)), strings.NewReader(string(b))); err != nil {
		return nil, err
	}
	return aw, nil
}

func (w *Writer) add(e Entry) error {
	if err := checkPath(e.Path); err != nil {
		return err
	}
	if w.seen[e.Path] {
		return fmt.Errorf("%s twice in the archive", e.Path)
	}
	w.seen[e.Path] = true
	return nil
}

// Dir adds a directory.
func (w *Writer) Dir(name string, mode fs.FileMode) error {
	e := Entry{Path: name, Type: TypeDir, Mode: uint32(mode.Perm())}
	if err := w.add(e); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(e.Mode), ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	w.entries = append(w.entries, e)
	return nil
}

// Symlink adds a symlink (its target is kept as is, never followed).
func (w *Writer) Symlink(name, target string) error {
	e := Entry{Path: name, Type: TypeSymlink, Mode: 0o777, Link: target}
	if err := w.add(e); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	w.entries = append(w.entries, e)
	return nil
}

// File adds a regular file of size bytes read from r: exactly size bytes,
// or an error (a file that shrank or grew while it was read).
func (w *Writer) File(name string, mode fs.FileMode, size int64, r io.Reader) error {
	e := Entry{Path: name, Type: TypeFile, Mode: uint32(mode.Perm()), Size: size}
	if err := w.add(e); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: int64(e.Mode), ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.CopyN(io.MultiWriter(w.tw, h), r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s shrank while it was read (%d bytes of %d)", name, n, size)
		}
		return err
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	w.entries = append(w.entries, e)
	return nil
}

// Close writes the manifest as the last member and ends the encrypted
// stream. It does not close the underlying writer.
func (w *Writer) Close() error {
	b, err := json.Marshal(Manifest{Entries: w.entries})
	if err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(b)), Mode: 0o600, ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := w.tw.Write(b); err != nil {
		return err
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	if err := w.wb.Close(); err != nil {
		return err
	}
	return w.enc.Close()
}

// Abort ends a Writer that will not be closed (an export that failed
// part-way): the archive stays incomplete, without its manifest.
func (w *Writer) Abort() { w.wb.Close() }

// checkPath refuses a member path that is not a clean relative one.
func checkPath(p string) error {
	if p == "" || len(p) > 4096 || path.Clean(p) != p || path.IsAbs(p) || p == "." || p == ".." ||
		strings.HasPrefix(p, "../") || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return refused("member %q is not a clean relative path", p)
	}
	return nil
}
