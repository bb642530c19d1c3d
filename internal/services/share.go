package services

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
)

// notYet is shown for a detail read from a file the backend has not
// written yet.
const notYet = "(not available yet: enable the service first)"

// shareDetails expands a service's connect.details: a value template, or
// the first line of a file inside its config or data directory.
func shareDetails(def *catalog.Service, values map[string]string, env catalog.Env, fields map[string]any) ([]apitype.ShareDetail, error) {
	var out []apitype.ShareDetail
	for _, d := range def.Connect.Details {
		sd := apitype.ShareDetail{Label: d.Label, Secret: d.Secret}
		if d.File == "" {
			v, err := catalog.Expand(def, d.Value, values, env, fields)
			if err != nil {
				return nil, err
			}
			sd.Value = v
		} else {
			path, err := catalog.Expand(def, d.File, values, env, fields)
			if err != nil {
				return nil, err
			}
			if sd.Value, err = detailFile(path, env.Config, env.Data); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", def.Name, d.Label, err)
			}
		}
		out = append(out, sd)
	}
	return out, nil
}

// detailFile reads the first line (at most 1 KiB, control characters
// removed) of path, which must lie inside one of roots.
func detailFile(path string, roots ...string) (string, error) {
	path = filepath.Clean(path)
	inside := false
	for _, r := range roots {
		if rel, err := filepath.Rel(r, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel) {
			inside = true
		}
	}
	if !inside {
		return "", fmt.Errorf("%s is outside the service's directories", path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return notYet, nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, line)
	if line = strings.TrimSpace(line); line == "" {
		return notYet, nil
	}
	return line, nil
}
