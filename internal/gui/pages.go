package gui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// svcRow is a service as the pages show it.
type svcRow struct {
	apitype.Service
	StateLabel string // not installed, disabled, starting, running, failing
	StateClass string // off, busy, ok, bad
	Health     string
	URL        string
}

func row(sv apitype.Service) svcRow {
	r := svcRow{Service: sv, URL: "/services/" + url.PathEscape(sv.Name), Health: capital(apitype.StateSentence(sv.State))}
	switch sv.State {
	case apitype.StateDisabled:
		r.StateLabel, r.StateClass, r.Health = "Disabled", "off", "Off"
		if !sv.Installed { // the daemon's word: dpkg lacks a package of it
			r.StateLabel, r.Health = "Not installed", ""
		}
	case apitype.StateScheduled:
		r.StateLabel, r.StateClass = "Scheduled", "busy"
	case apitype.StateStarting, apitype.StateAddressed, apitype.StatePublished:
		r.StateLabel, r.StateClass = "Starting", "busy"
	case apitype.StateReachable:
		r.StateLabel, r.StateClass = "Running", "ok"
	case apitype.StateFailing, apitype.StateFailed:
		r.StateLabel, r.StateClass = "Failing", "bad"
	default:
		r.StateLabel, r.StateClass = sv.State, "off"
	}
	r.Progress = capital(sv.Progress)
	// The state's reason, whatever the state (a disabled service says
	// what stopped it, as the CLI's status does).
	switch {
	case sv.Error == "":
	case r.Health == "":
		r.Health = capital(sv.Error)
	default:
		r.Health += ": " + sv.Error
	}
	return r
}

// ---- services list

type listData struct {
	Services []svcRow
	Daemon   *apitype.Daemon
}

func (s *Server) loadServices(ctx context.Context) (*view, error) {
	list, err := s.c.List(ctx)
	if err != nil {
		return nil, err
	}
	d := listData{}
	for _, sv := range list {
		d.Services = append(d.Services, row(sv))
	}
	if st, err := s.c.Daemon(ctx); err == nil {
		d.Daemon = &st
	}
	return &view{tmpl: "services", title: "Services", nav: "services", data: d, live: []string{"list"}}, nil
}

func (s *Server) servicesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	v, err := s.loadServices(ctx)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, v)
}

// ---- one service

type optView struct {
	apitype.Option
	ID      string
	Current string // the value shown in the field
	Checked bool
	Err     string
	Hint    string
	Warning string
	Note    string
	Reveal  bool
}

type serviceData struct {
	S           svcRow
	Job         *jobView
	Share       *apitype.Share
	Clients     []apitype.Client
	Common      []optView
	Protection  []optView // common options under "Protection"
	Own         []optView
	Logs        []string
	LogsErr     string
	TopWarnings []banner
	ClientName  string
	ClientErr   string
	ClientHint  string
	OptErr      bool
	Starting    bool
	CanEnable   bool
	// Folders are the service's content folders, with their files.
	Folders []folderView
	// Messages are the visitors' messages, nil for a service without.
	Messages *messagesView
	// Transfers are the downloads and uploads, nil for a service without.
	Transfers *transfersView
	// StopsIn and StartsIn are the time left of its timers, "" for none.
	StopsIn, StartsIn string
}

// optForm is a submitted options form to show again with its errors.
type optForm struct {
	values map[string]string
	errs   map[string][2]string
}

// warningOption says which option a warning of the API is about.
func warningOption(w string) string {
	switch {
	case strings.HasPrefix(w, "client authorization is off"):
		return "client-auth"
	case strings.HasPrefix(w, "allow-lan"):
		return "allow-lan"
	}
	return ""
}

// optionWarnings places the warnings the API gives on options (no one can
// log in yet: set authorized-keys...) next to the first option, in page
// order, that carries each: where the choice is.
func optionWarnings(opts []apitype.Option) map[string]string {
	byOpt := map[string]string{}
	placed := map[string]bool{}
	for _, o := range opts {
		for _, w := range o.Warnings {
			if placed[w] {
				continue
			}
			placed[w] = true
			text := capital(strings.ReplaceAll(w, "`", "")) + "."
			if byOpt[o.Name] != "" {
				text = byOpt[o.Name] + " " + text
			}
			byOpt[o.Name] = text
		}
	}
	return byOpt
}

// onAnOption says whether one of the options carries warning w, which is
// then shown next to it rather than at the top of the page.
func onAnOption(opts []apitype.Option, w string) bool {
	for _, o := range opts {
		if slices.Contains(o.Warnings, w) {
			return true
		}
	}
	return false
}

// loadService loads a service page; live loads only what its live parts
// show.
func (s *Server) loadService(ctx context.Context, name string, live bool, form *optForm, reveal string) (*view, error) {
	sv, err := s.c.InfoWith(ctx, name, true, !live)
	if err != nil {
		return nil, err
	}
	d := &serviceData{S: row(sv), Job: s.jobOf(name)}
	d.Starting = d.S.StateClass == "busy" || (d.Job != nil && d.Job.Running)
	d.CanEnable = !sv.Enabled && !(d.Job != nil && d.Job.Running)
	if sv.OnionAddress != "" {
		if sh, err := s.c.Share(ctx, name, ""); err == nil {
			d.Share = &sh
		}
	}
	if logs, err := s.c.Logs(ctx, name, 40); err == nil {
		d.Logs = logs
	} else {
		_, d.LogsErr, _ = describe(err)
	}
	if sv.StopsAt != nil {
		d.StopsIn = timeLeft(*sv.StopsAt)
	}
	if sv.StartsAt != nil {
		d.StartsIn = timeLeft(*sv.StartsAt)
	}
	parts := []string{"status", "share", "logs"}
	if len(sv.Content) > 0 {
		d.Folders = s.loadFolders(ctx, sv)
		d.Messages = s.loadMessages(ctx, sv)
		parts = append(parts, "files")
		if d.Transfers = s.loadTransfers(ctx, name); d.Transfers != nil {
			parts = append(parts, "transfers")
		}
	}
	v := &view{tmpl: "service", title: sv.Title, nav: "services", data: d, live: parts, refresh: d.Starting}
	if live {
		return v, nil
	}
	if d.Clients, err = s.c.Clients(ctx, name); err != nil {
		return nil, err
	}
	byOpt := optionWarnings(sv.Options)
	for _, w := range sv.Warnings {
		if o := warningOption(w); o != "" {
			byOpt[o] = capital(w) + "."
		} else if !onAnOption(sv.Options, w) {
			d.TopWarnings = append(d.TopWarnings, forGUI(w))
		}
	}
	guardNote := ""
	if st, err := s.c.Settings(ctx); err == nil && len(st.Notes) > 0 {
		guardNote = st.Notes[0]
	}
	for _, o := range sv.Options {
		ov := optView{Option: o, ID: "opt-" + o.Name, Current: o.Value, Warning: byOpt[o.Name], Reveal: reveal == o.Name}
		if form != nil {
			if v, ok := form.values[o.Name]; ok {
				ov.Current = v
			}
			if e, ok := form.errs[o.Name]; ok {
				ov.Err, ov.Hint = e[0], e[1]
				d.OptErr = true
			}
		}
		ov.Checked = ov.Current == "true"
		if o.Name == "persistence" && guardNote != "" {
			ov.Note = "Entry guards are a separate choice, in Settings: " + guardNote
		}
		if o.Common && o.Group == apitype.GroupProtection {
			d.Protection = append(d.Protection, ov)
		} else if o.Common {
			d.Common = append(d.Common, ov)
		} else {
			d.Own = append(d.Own, ov)
		}
	}
	return v, nil
}

func (s *Server) servicePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	v, err := s.loadService(ctx, r.PathValue("name"), false, nil, r.URL.Query().Get("reveal"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, v)
}

func svcURL(name string, frag string) string {
	u := "/services/" + url.PathEscape(name)
	if frag != "" {
		u += "#" + frag
	}
	return u
}

func (s *Server) enable(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := apiCtx(r)
	defer cancel()
	if _, err := s.c.Info(ctx, name, false); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.clearJob(name)
	msg := ""
	if !s.startEnable(name, sessionFrom(r).uid) {
		msg = "It is already starting."
	}
	s.redirect(w, r, svcURL(name, "status"), msg)
}

func (s *Server) disable(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := apiCtx(r)
	defer cancel()
	sv, err := s.c.Disable(ctx, name)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.clearJob(name)
	s.redirect(w, r, svcURL(name, "status"), sv.Title+" is disabled: its onion address no longer answers. Its address, key and clients are kept.")
}

// formValue is the value a field submitted: the last one, so that a
// checkbox placed after a hidden "false" wins when checked.
func formValue(r *http.Request, key string) (string, bool) {
	vs, ok := r.PostForm[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func (s *Server) setOptions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := apiCtx(r)
	defer cancel()
	sv, err := s.c.InfoWith(ctx, name, false, true)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	form := &optForm{values: map[string]string{}, errs: map[string][2]string{}}
	var saved, notes []string
	for _, o := range sv.Options {
		v, ok := formValue(r, "opt-"+o.Name)
		if !ok {
			continue
		}
		switch o.Type {
		case "text":
			v = strings.ReplaceAll(v, "\r\n", "\n")
		case "secret":
			if v == "" {
				continue // left empty: unchanged
			}
		}
		form.values[o.Name] = v
		if v == o.Value {
			continue
		}
		res, err := s.c.SetOption(ctx, name, o.Name, v)
		if err != nil {
			_, msg, hint := describe(err)
			var ce *client.Error
			if errors.As(err, &ce) && ce.Hint == "" {
				hint = fixHint(o)
			}
			form.errs[o.Name] = [2]string{msg, hint}
			continue
		}
		saved = append(saved, o.Title)
		for _, w := range res.Warnings {
			notes = append(notes, forGUI(w).Text)
		}
	}
	if len(form.errs) > 0 {
		v, err := s.loadService(ctx, name, false, form, "")
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		d := v.data.(*serviceData)
		if len(saved) > 0 {
			d.TopWarnings = append(d.TopWarnings, banner{Text: "Saved: " + strings.Join(saved, ", ") + ". The other changes were not saved: see below."})
		}
		s.render(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	msg := "Nothing changed."
	if len(saved) > 0 {
		msg = "Saved: " + strings.Join(saved, ", ") + "."
	}
	s.redirect(w, r, svcURL(name, "options"), append([]string{msg}, notes...)...)
}

// fixHint says what a valid value of o looks like.
func fixHint(o apitype.Option) string {
	switch o.Type {
	case "int", "port":
		lo, hi := "", ""
		if o.Min != nil {
			lo = fmt.Sprint(*o.Min)
		}
		if o.Max != nil {
			hi = fmt.Sprint(*o.Max)
		}
		switch {
		case lo != "" && hi != "":
			return "Enter a whole number from " + lo + " to " + hi + "."
		case o.Type == "port":
			return "Enter a port number from 1 to 65535."
		}
		return "Enter a whole number."
	case "enum":
		return "Choose one of: " + strings.Join(o.Choices, ", ") + "."
	case "string", "secret", "text", "duration", "time":
		// The daemon's refusal says what is wrong and the rule in
		// words (pattern_help): nothing to add, and nothing untrue.
		return ""
	}
	return "Correct the value and save again."
}

// ---- clients

func (s *Server) addClient(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := apiCtx(r)
	defer cancel()
	cn := strings.TrimSpace(r.PostFormValue("client"))
	cl, err := s.c.AddClient(ctx, name, cn)
	if err != nil {
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status >= 500 {
			s.apiError(w, r, err)
			return
		}
		v, lerr := s.loadService(ctx, name, false, nil, "")
		if lerr != nil {
			s.apiError(w, r, lerr)
			return
		}
		d := v.data.(*serviceData)
		_, d.ClientErr, d.ClientHint = describe(err)
		d.ClientName = cn
		s.render(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	s.redirect(w, r, clientURL(name, cl.Name), cl.Name+" was added. Give them this credential, and only to them.")
}

func clientURL(name, cl string) string {
	return "/services/" + url.PathEscape(name) + "/clients/" + url.PathEscape(cl)
}

// clientData is the client page's: the daemon's answer gives the key
// alone (Client.Key) and the file name (Client.CredentialFile), as it
// gives them to `share --client`.
type clientData struct {
	S        svcRow
	Client   apitype.Client
	Share    apitype.Share
	FileURL  string
	CanShare bool
}

func (s *Server) clientPage(w http.ResponseWriter, r *http.Request) {
	name, cn := r.PathValue("name"), r.PathValue("client")
	ctx, cancel := apiCtx(r)
	defer cancel()
	sv, err := s.c.Info(ctx, name, false)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	cl, err := s.c.Client(ctx, name, cn)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	d := clientData{S: row(sv), Client: cl, FileURL: clientURL(name, cn) + "/auth_private"}
	if sh, err := s.c.Share(ctx, name, cn); err == nil {
		d.Share, d.CanShare = sh, true
	}
	s.render(w, r, http.StatusOK, &view{tmpl: "client", title: cl.Name + " · " + sv.Title, nav: "services", data: d})
}

// authPrivate downloads a client's credential as the file a client tor
// reads from its ClientOnionAuthDir (what `client show --format
// auth-private` prints).
func (s *Server) authPrivate(w http.ResponseWriter, r *http.Request) {
	name, cn := r.PathValue("name"), r.PathValue("client")
	ctx, cancel := apiCtx(r)
	defer cancel()
	cl, err := s.c.Client(ctx, name, cn)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+cl.CredentialFile+`"`)
	fmt.Fprintln(w, cl.Credential)
}

func (s *Server) removeClient(w http.ResponseWriter, r *http.Request) {
	name, cn := r.PathValue("name"), r.PathValue("client")
	ctx, cancel := apiCtx(r)
	defer cancel()
	if err := s.c.RemoveClient(ctx, name, cn); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.redirect(w, r, svcURL(name, "clients"), cn+" was removed: their credential no longer opens the service.")
}

// icon serves a service's icon, or the generic one.
func (s *Server) icon(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	b, err := s.c.Icon(ctx, r.PathValue("name"))
	if err != nil {
		b, _ = staticFS.ReadFile("static/service.svg")
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	w.Write(b)
}

// ---- settings

type settingsData struct {
	Daemon   apitype.Daemon
	Settings *apitype.Settings
	Err      string
	System   bool
}

func (s *Server) loadSettings(ctx context.Context, live bool) (*view, error) {
	st, err := s.c.Daemon(ctx)
	if err != nil {
		return nil, err
	}
	d := &settingsData{Daemon: st, System: st.Network == "system"}
	if !live {
		set, err := s.c.Settings(ctx)
		if err != nil {
			_, d.Err, _ = describe(err)
		} else {
			d.Settings = &set
		}
	}
	return &view{tmpl: "settings", title: "Settings", nav: "settings", data: d, live: []string{"tor"}}, nil
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	v, err := s.loadSettings(ctx, false)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, v)
}

func (s *Server) setSettings(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*apiTimeout)
	defer cancel()
	val, _ := formValue(r, "persist-tor-state")
	if val != "true" {
		val = "false"
	}
	cur, err := s.c.Settings(ctx)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if (val == "true") == cur.PersistTorState {
		s.redirect(w, r, "/settings", "Nothing changed.")
		return
	}
	if _, err := s.c.SetSetting(ctx, "persist-tor-state", val); err != nil {
		s.apiError(w, r, err)
		return
	}
	msg := "Tor's state, with its entry guards, is now kept across reboots."
	if val == "false" {
		msg = "Tor's state is now amnesic: new entry guards after each reboot."
	}
	s.redirect(w, r, "/settings", msg, capital(apitype.TorRestartNote)+".")
}
