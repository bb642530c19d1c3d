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

// connectInfo expands def's connect section (URI, instructions, details)
// with the service's option values and env, whose Address is the onion
// host name: what `share` shows anyone, without a client's credential.
func connectInfo(def *catalog.Service, values map[string]string, env catalog.Env) (apitype.Share, error) {
	port := def.OnionPorts[0].Virtual
	fields := map[string]any{"address": env.Address, "port": port}
	uri, err := catalog.Expand(def, def.Connect.URI, values, env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	details, err := shareDetails(def, values, env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	var instr []string
	for _, in := range def.Connect.Instructions {
		text, err := catalog.Expand(def, in.Text, values, env, fields)
		if err != nil {
			return apitype.Share{}, err
		}
		instr = append(instr, in.Client+": "+text)
	}
	return apitype.Share{
		Service:      def.Name,
		OnionAddress: env.Address,
		OnionPort:    port,
		URI:          uri,
		Instructions: strings.Join(instr, "\n"),
		Details:      details,
	}, nil
}

// credentialFile is the name a client's credential is saved under in a
// tor's ClientOnionAuthDir (tor reads every *.auth_private file there):
// service and client, so that one person's files for two services differ.
func credentialFile(service, client string) string {
	return service + "-" + client + ".auth_private"
}

// addCredential puts c's credential (from clientOut with its secret) in sh,
// in both forms a client uses, each with what to do with it.
func addCredential(sh *apitype.Share, c apitype.Client) {
	sh.Client, sh.Key, sh.Credential, sh.CredentialFile = c.Name, c.Key, c.Credential, c.CredentialFile
	sh.KeyHelp = fmt.Sprintf("Paste this key in Tor Browser when it asks for the key of %s.", sh.OnionAddress)
	sh.CredentialHelp = fmt.Sprintf("For apps that reach the onion through a tor of their own, "+
		"save the credential line as the file %s in the folder named by the ClientOnionAuthDir option of that tor, "+
		"then reload tor (systemctl reload tor).", c.CredentialFile)
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
	configDir, dataDir := dirs(m.store, name)
	env := catalog.Env{Address: s.rec.Address + ".onion", Config: configDir, Data: dataDir}
	out, err := connectInfo(s.def, m.values(s), env)
	if err != nil {
		return apitype.Share{}, err
	}
	out.ClientAuth = m.value(s, catalog.OptClientAuth) == "true"
	if client != "" {
		c := s.rec.Client(client)
		if c == nil {
			return apitype.Share{}, notFound("%s has no client %q", name, client)
		}
		ac, err := clientOut(s, c, true)
		if err != nil {
			return apitype.Share{}, err
		}
		addCredential(&out, ac)
	} else if out.ClientAuth && len(s.rec.Clients) > 0 {
		var names []string
		for _, c := range s.rec.Clients {
			names = append(names, c.Name)
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("client authorization is on: give each person their own credential, e.g. `tails-server share %s --client %s` (clients: %s)",
			name, names[0], strings.Join(names, ", ")))
	}
	if !s.rec.Enabled {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s is disabled: enable it before sharing", name))
	}
	out.Warnings = append(out.Warnings, m.warnings(s)...)
	return out, nil
}
