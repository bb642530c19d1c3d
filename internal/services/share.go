package services

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
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

// Share returns what a client needs to connect; with a client name, its
// credential too.
func (m *Manager) Share(name, client string) (apitype.Share, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Share{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.Address == "" {
		return apitype.Share{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s has no onion address yet", name),
			Hint: fmt.Sprintf("enable it first: tails-server enable %s", name)}
	}
	addr := s.rec.Address + ".onion"
	port := s.def.OnionPorts[0].Virtual
	configDir, dataDir := dirs(m.store, name)
	env := catalog.Env{Address: addr, Config: configDir, Data: dataDir}
	fields := map[string]any{"address": addr, "port": port}
	uri, err := catalog.Expand(s.def, s.def.Connect.URI, m.values(s), env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	details, err := shareDetails(s.def, m.values(s), env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	var instr []string
	for _, in := range s.def.Connect.Instructions {
		instr = append(instr, in.Client+": "+in.Text)
	}
	out := apitype.Share{
		Service:      name,
		OnionAddress: addr,
		OnionPort:    port,
		URI:          uri,
		Instructions: strings.Join(instr, "\n"),
		ClientAuth:   m.value(s, catalog.OptClientAuth) == "true",
		Details:      details,
	}
	if client != "" {
		c := s.rec.Client(client)
		if c == nil {
			return apitype.Share{}, notFound("%s has no client %q", name, client)
		}
		ac, err := clientOut(s, c, true)
		if err != nil {
			return apitype.Share{}, err
		}
		out.Client, out.Credential = client, ac.Credential
	} else if out.ClientAuth && len(s.rec.Clients) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("client authorization is on: give each person their own credential (`tails-server share %s --client NAME`)", name))
	}
	if !s.rec.Enabled {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s is disabled: enable it before sharing", name))
	}
	out.Warnings = append(out.Warnings, m.warnings(s)...)
	return out, nil
}
