package fileshare

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanPath turns the decoded path of a URL, below its route prefix, into
// a slash-separated path relative to the served folder ("." for the
// folder itself). It refuses, rather than repairs, anything suspicious: a
// segment starting with a dot (so "..", "." and dot files), a backslash,
// a NUL or other control character, or invalid UTF-8. Empty segments
// (from "//" or a trailing "/") are dropped. The result always satisfies
// fs.ValidPath and filepath.IsLocal; os.Root still guards against
// symlinks.
func CleanPath(p string) (string, error) {
	if !utf8.ValidString(p) {
		return "", errors.New("path is not valid UTF-8")
	}
	var parts []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, ".") {
			return "", fmt.Errorf("path segment %q starts with a dot", seg)
		}
		for _, c := range seg {
			if c == '\\' || unicode.IsControl(c) {
				return "", fmt.Errorf("path segment %q holds a forbidden character", seg)
			}
		}
		parts = append(parts, seg)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// listed reports whether a name of the shared folder is shown (in the
// listing) and offered (as a file, or in a zip archive): not a dot file,
// and a name a URL of ours can reach (no backslash, no control
// character). Whatever a visitor can download, the listing shows.
func listed(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	_, err := CleanPath(name)
	return err == nil
}

// maxNameBytes bounds a received file's name (ext4 allows 255).
const maxNameBytes = 200

// ErrInvisibleName is a file name with nothing visible in it: only
// control and format characters.
var ErrInvisibleName = errors.New("the file name holds only invisible characters")

// invisible reports whether r is a character a file manager does not
// show as itself: a control character (Cc), a format character (Cf: the
// bidi overrides and isolates that turn "invoice\u202Efdp.exe" into
// what looks like a .pdf, the zero-width space, joiner and non-joiner,
// the byte order mark...) or a line or paragraph separator.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// SanitizeName reduces a client's file name to a plain base name: the
// part after the last slash or backslash, without control or format
// characters (see invisible), leading dots or surrounding spaces, at
// most 200 bytes (the extension kept); "upload" if nothing is left of
// an empty name or one of dots and spaces. A name that held characters
// and is empty once the invisible ones are removed is refused with
// ErrInvisibleName: it was meant to look like something it is not.
func SanitizeName(n string) (string, error) {
	n = strings.ToValidUTF8(n, "")
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	shown := strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, n)
	hidden := shown != n
	n = shown
	for m := ""; m != n; {
		m, n = n, strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(n), "."))
	}
	if len(n) > maxNameBytes {
		ext := path.Ext(n)
		if len(ext) > 20 {
			ext = ""
		}
		stem := n[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		// The cut may leave a space (or a lone dot stem) at its end.
		n = strings.TrimSpace(stem) + ext
		n = strings.TrimSpace(strings.TrimLeft(n, "."))
	}
	if n == "" && hidden {
		return "", ErrInvisibleName
	}
	if n == "" {
		return "upload", nil
	}
	return n, nil
}
