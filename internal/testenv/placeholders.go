package testenv

import (
	"regexp"
	"slices"
)

// Placeholders returns the placeholder-looking tokens in text, a line a
// user reads and copies from (`share`'s instructions): template actions
// left unexpanded ("{{"), <angle bracket> words, and upper-case words
// such as ADDRESS, USER or PORT that are not one of the acronyms the
// catalog's instructions use.
func Placeholders(text string) []string {
	var out []string
	out = append(out, templateRE.FindAllString(text, -1)...)
	out = append(out, angleRE.FindAllString(text, -1)...)
	for _, w := range upperRE.FindAllString(text, -1) {
		if !slices.Contains(acronyms, w) {
			out = append(out, w)
		}
	}
	return out
}

var (
	templateRE = regexp.MustCompile(`\{\{|\}\}`)
	angleRE    = regexp.MustCompile(`<[A-Za-z][A-Za-z0-9 _.-]*>`)
	// upperRE matches a word of two or more capitals (a digit may end it,
	// as in SOCKS5).
	upperRE = regexp.MustCompile(`\b[A-Z][A-Z_]+[0-9]*\b`)
)

// acronyms are the upper-case words instructions may use: names of
// protocols and programs, never values to replace.
var acronyms = []string{"IRC", "XMPP", "SOCKS", "SOCKS5", "TCP", "SHA", "TLS", "SSH", "HTTP", "HTTPS", "SFTP", "QR"}
