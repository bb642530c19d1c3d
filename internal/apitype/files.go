package apitype

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kinds of content folders (ContentFolder.Kind).
const (
	FolderOffered  = "offered"  // visitors get its files
	FolderReceived = "received" // visitors put files there
)

// ContentFolder is one folder of a service's own content, as its
// description declares it: what the `files` verbs work on.
type ContentFolder struct {
	Name  string `json:"name" yaml:"name"`
	Title string `json:"title" yaml:"title"`
	// Kind is FolderOffered or FolderReceived.
	Kind string `json:"kind" yaml:"kind"`
}

// File is one file of a content folder.
type File struct {
	// Name is the file's path inside the folder, slash-separated.
	Name string `json:"name" yaml:"name"`
	// Size is in bytes.
	Size int64 `json:"size" yaml:"size"`
	// Modified is when the file was last changed (added, for an added
	// file), in UTC.
	Modified time.Time `json:"modified" yaml:"modified"`
	// Downloads counts the complete downloads of the file so far, when
	// the service's backend counts them; absent otherwise.
	Downloads *int64 `json:"downloads,omitempty" yaml:"downloads,omitempty"`
}

// FileList is the answer of GET /services/{name}/files.
type FileList struct {
	Service string `json:"service" yaml:"service"`
	Folder  string `json:"folder" yaml:"folder"`
	Kind    string `json:"kind" yaml:"kind"`
	Files   []File `json:"files" yaml:"files"`
}

// AddResult is the answer of POST /services/{name}/files: what was put in
// place, all of it at once.
type AddResult struct {
	Service string `json:"service" yaml:"service"`
	Folder  string `json:"folder" yaml:"folder"`
	// To is the folder inside Folder the names were added to ("" its top).
	To string `json:"to,omitempty" yaml:"to,omitempty"`
	// Added are the names put in place (files and folders at the top of
	// what was sent); Replaced those of them that replaced a file.
	Added    []string `json:"added" yaml:"added"`
	Replaced []string `json:"replaced,omitempty" yaml:"replaced,omitempty"`
	// Files and Bytes count the regular files written.
	Files int   `json:"files" yaml:"files"`
	Bytes int64 `json:"bytes" yaml:"bytes"`
}

// RemoveFilesResult is the answer of DELETE /services/{name}/files.
type RemoveFilesResult struct {
	Service string   `json:"service" yaml:"service"`
	Folder  string   `json:"folder" yaml:"folder"`
	Removed []string `json:"removed" yaml:"removed"`
}

// The body of POST /services/{name}/files is a tar stream (archive/tar,
// PAX or GNU) of regular files and folders, names relative and checked by
// CheckName; its query takes folder (default: the service's first offered
// folder), to (a folder inside it) and replace=1. With Content-Type
// multipart/form-data it is a form's files instead: each part named
// "file" is a file, named by its file name (a browser's base name). FilesTotalHeader, when
// set, is the total size of the files, checked against the free space
// before anything is written.
const FilesTotalHeader = "Tails-Server-Total-Size"

// MaxNameSegment is the most bytes one name of a path may have (ext4's
// limit).
const MaxNameSegment = 255

// MaxNamePath is the most bytes a whole path inside a folder may have.
const MaxNamePath = 4096

// ErrBadName is wrapped by CheckName's errors.
var ErrBadName = errors.New("bad file name")

// CheckName checks a path inside a content folder: slash-separated
// names, none empty, "." or "..", none starting with a dot (never
// offered), none holding a backslash or a control or format character
// (which make a name look like another: bidi overrides, zero-width
// characters), each at most MaxNameSegment bytes of valid UTF-8.
func CheckName(p string) error {
	bad := func(why string) error { return fmt.Errorf("name %q: %s: %w", p, why, ErrBadName) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxNamePath:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNamePath))
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("starts with /; name a path inside the folder")
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return bad("has an empty name between two /")
		case seg == "..":
			return bad(`".." is not allowed; name a path inside the folder`)
		case strings.HasPrefix(seg, "."):
			return bad(fmt.Sprintf("%q starts with a dot, and such names are never offered; rename it", seg))
		case len(seg) > MaxNameSegment:
			return bad(fmt.Sprintf("a name is %d bytes, more than %d", len(seg), MaxNameSegment))
		case strings.ContainsRune(seg, '\\'):
			return bad("holds a backslash")
		case strings.ContainsFunc(seg, invisibleRune):
			return bad("holds a control or format character (invisible, or making the name look like another)")
		}
	}
	return nil
}

// invisibleRune reports a character shown as something else or nothing:
// control (Cc), format (Cf: bidi overrides, zero-width...), line and
// paragraph separators.
func invisibleRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// SavedFile is what `tails-server files save` prints of each file it
// wrote: the file's name in the service's folder, where it was written
// (a name no file had: "name (1).ext" if name was taken), and its size.
type SavedFile struct {
	Name string `json:"name" yaml:"name"`
	Path string `json:"path" yaml:"path"`
	Size int64  `json:"size" yaml:"size"`
}

// SizeText says a size in bytes for a person: "3.0 MiB", "900 bytes".
func SizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
