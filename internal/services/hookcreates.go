package services

import (
	"os"
	"path/filepath"
)

// hookDone reports whether a pre_start hook's product (its
// pre_start_creates file, a template) exists already, so the hook need not
// run again. An empty template, or one that does not expand to an absolute
// path, means "run the hook".
func hookDone(creates string, expand func(string) (string, error)) bool {
	if creates == "" {
		return false
	}
	p, err := expand(creates)
	if err != nil || !filepath.IsAbs(p) {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}
