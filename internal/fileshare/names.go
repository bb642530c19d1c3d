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

// maxNameBytes bounds a received file's name (ext4 allows 255).
const maxNameBytes = 200

// SanitizeName reduces a client's file name to a plain base name: the
// part after the last slash or backslash, without control characters,
// leading dots or surrounding spaces, at most 200 bytes (the extension
// kept); "upload" if nothing is left.
func SanitizeName(n string) string {
	n = strings.ToValidUTF8(n, "")
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, n)
	n = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(n), "."))
	if len(n) > maxNameBytes {
		ext := path.Ext(n)
		if len(ext) > 20 {
			ext = ""
		}
		stem := n[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		n = stem + ext
	}
	if n == "" {
		return "upload"
	}
	return n
}
