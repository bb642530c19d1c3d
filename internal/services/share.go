package services

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/safefs"
)

// notYet is shown for a detail read from a file the backend has not
// written yet.
const notYet = "(not available yet: enable the service first)"

// detailLimit caps the size of a detail file (a fingerprint, a public
// key: a few hundred bytes); only its first line, up to detailLine bytes,
// is shown.
const (
	detailLimit = 16 << 10
	detailLine  = 1 << 10
)

// detailFile is a detail whose value is the first line of a file the
// backend writes: read by readDetails, with no lock held.
type detailFile struct {
	index int    // in Share.Details
	path  string // absolute
	roots []string
}

// shareDetails expands a service's connect.details: a value template, or
// a file inside its config or data directory, whose reading it leaves to
// readDetails.
func shareDetails(def *catalog.Service, values map[string]string, env catalog.Env, fields map[string]any) ([]apitype.ShareDetail, []detailFile, error) {
	var out []apitype.ShareDetail
	var files []detailFile
	for _, d := range def.Connect.Details {
		sd := apitype.ShareDetail{Label: d.Label, Secret: d.Secret}
		if d.File == "" {
			v, err := catalog.Expand(def, d.Value, values, env, fields)
			if err != nil {
				return nil, nil, err
			}
			sd.Value = v
		} else {
			path, err := catalog.Expand(def, d.File, values, env, fields)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, detailFile{index: len(out), path: path, roots: []string{env.Config, env.Data}})
		}
		out = append(out, sd)
	}
	return out, files, nil
}

// readDetails fills in the details read from files. The files are the
// backend's (its user can write the data directory): each is opened
// without following a symlink and without blocking, and only a regular
// file of at most detailLimit bytes is shown; anything else is said to be
// not available, with what was found instead.
func readDetails(sh *apitype.Share, files []detailFile) error {
	for _, f := range files {
		v, err := readDetail(f.path, f.roots...)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", sh.Service, sh.Details[f.index].Label, err)
		}
		sh.Details[f.index].Value = v
	}
	return nil
}

// readDetail returns the first line (at most detailLine bytes, control
// characters removed) of path, which must lie inside one of roots: a
// description whose file is elsewhere is an error.
func readDetail(path string, roots ...string) (string, error) {
	path = filepath.Clean(path)
	root, rel := "", ""
	for _, r := range roots {
		if x, err := filepath.Rel(r, path); err == nil && x != "." && x != ".." && !strings.HasPrefix(x, "../") && !filepath.IsAbs(x) {
			root, rel = r, x
			break
		}
	}
	if root == "" {
		return "", fmt.Errorf("%s is outside the service's directories", path)
	}
	b, err := safefs.ReadFile(root, rel, detailLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return notYet, nil
	}
	if err != nil {
		return "(not available: " + err.Error() + ")", nil
	}
	line, _, _ := strings.Cut(string(b[:min(len(b), detailLine)]), "\n")
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

// connectTemplate expands def's connect section (URI, instructions,
// details) with the service's option values and env, whose Address is the
// onion host name: what `share` shows anyone, without a client's
// credential. The details read from files come back to be read by
// readDetails.
func connectTemplate(def *catalog.Service, values map[string]string, env catalog.Env) (apitype.Share, []detailFile, error) {
	port := def.OnionPorts[0].Virtual
	fields := map[string]any{"address": env.Address, "port": port}
	uri, err := catalog.Expand(def, def.Connect.URI, values, env, fields)
	if err != nil {
		return apitype.Share{}, nil, err
	}
	details, files, err := shareDetails(def, values, env, fields)
	if err != nil {
		return apitype.Share{}, nil, err
	}
	var instr []string
	for _, in := range def.Connect.Instructions {
		text, err := catalog.Expand(def, in.Text, values, env, fields)
		if err != nil {
			return apitype.Share{}, nil, err
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
	}, files, nil
}

// connectInfo is connectTemplate with the detail files read.
func connectInfo(def *catalog.Service, values map[string]string, env catalog.Env) (apitype.Share, error) {
	sh, files, err := connectTemplate(def, values, env)
	if err != nil {
		return apitype.Share{}, err
	}
	if err := readDetails(&sh, files); err != nil {
		return apitype.Share{}, err
	}
	return sh, nil
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
// credential too. The detail files are read once the service's lock is
// released: they are the backend's, and nothing found there may stall
// the API.
func (m *Manager) Share(name, client string) (apitype.Share, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Share{}, err
	}
	out, files, err := m.share(s, name, client)
	if err != nil {
		return apitype.Share{}, err
	}
	if err := readDetails(&out, files); err != nil {
		return apitype.Share{}, err
	}
	return out, nil
}

// share is Share but for the detail files, under s.mu.
func (m *Manager) share(s *service, name, client string) (apitype.Share, []detailFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.Address == "" {
		return apitype.Share{}, nil, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s has no onion address yet", name),
			Hint: fmt.Sprintf("enable it first: tails-server enable %s", name)}
	}
	configDir, dataDir := dirs(m.store, name)
	env := catalog.Env{Address: s.rec.Address + ".onion", Config: configDir, Data: dataDir}
	out, files, err := connectTemplate(s.def, m.values(s), env)
	if err != nil {
		return apitype.Share{}, nil, err
	}
	out.ClientAuth = m.value(s, catalog.OptClientAuth) == "true"
	if client != "" {
		c := s.rec.Client(client)
		if c == nil {
			return apitype.Share{}, nil, notFound("%s has no client %q", name, client)
		}
		ac, err := clientOut(s, c, true)
		if err != nil {
			return apitype.Share{}, nil, err
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
	return out, files, nil
}
