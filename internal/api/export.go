package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"filippo.io/age"

	"tails-server/internal/apitype"
	"tails-server/internal/archive"
	"tails-server/internal/services"
)

// The export endpoints: the daemon encrypts and checks archives itself,
// so that the CLI and the GUI share one implementation. Secrets (the
// passphrase, an age identity) come in the body, never in the URL, and
// are never logged.

func (h *handler) exportService(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.export(w, r, r.PathValue("name"), false)
}

func (h *handler) exportAll(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.export(w, r, "", true)
}

// export streams the archive; its trailer (apitype.ExportTrailer) says
// "ok" once it is complete, else why it is not.
func (h *handler) export(w http.ResponseWriter, r *http.Request, name string, all bool) (any, error) {
	var req apitype.ExportRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	rcpt, err := exportRecipient(req)
	if err != nil {
		return nil, err
	}
	plan, err := h.d.Services().PlanExport(name, all)
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", apitype.ExportTrailer)
	w.WriteHeader(http.StatusOK)
	c, _ := CallerOf(r)
	werr := plan.WriteTo(w, rcpt, daemonVersion(h))
	if werr != nil {
		h.log.Warn("export cut short", "services", strings.Join(plan.Services(), ","), "err", werr, "uid", c.UID())
		w.Header().Set(apitype.ExportTrailer, strings.ReplaceAll(werr.Error(), "\n", " "))
		return nil, errStreamed
	}
	w.Header().Set(apitype.ExportTrailer, "ok")
	h.log.Info("exported", "services", strings.Join(plan.Services(), ","), "to_recipient", req.Recipient != "", "uid", c.UID())
	return nil, errStreamed
}

func daemonVersion(h *handler) string { return h.d.Status().Version }

func exportRecipient(req apitype.ExportRequest) (age.Recipient, error) {
	bad := func(msg, hint string) error {
		return &services.Error{Status: http.StatusBadRequest, Msg: msg, Hint: hint}
	}
	switch {
	case req.Passphrase != "" && req.Recipient != "":
		return nil, bad("give a passphrase or a recipient, not both", "")
	case req.Recipient != "":
		rc, err := archive.Recipient(req.Recipient)
		if err != nil {
			return nil, bad(err.Error(), "")
		}
		return rc, nil
	case req.Passphrase != "":
		return archive.Passphrase(req.Passphrase)
	}
	return nil, bad("no passphrase nor recipient to encrypt the archive to", "give a passphrase, or --recipient age1...")
}

// startImport reads the body's first line (apitype.ImportRequest, JSON),
// then stages the archive that follows and answers its preview.
func (h *handler) startImport(w http.ResponseWriter, r *http.Request) (any, error) {
	br := bufio.NewReaderSize(r.Body, 64<<10)
	line, err := br.ReadSlice('\n')
	if err != nil {
		w.Header().Set("Connection", "close")
		return nil, &services.Error{Status: http.StatusBadRequest, Msg: "malformed import request: the body starts with one line of JSON (passphrase or identity), then the archive"}
	}
	var req apitype.ImportRequest
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		w.Header().Set("Connection", "close")
		return nil, &services.Error{Status: http.StatusBadRequest, Msg: "malformed import request: " + err.Error()}
	}
	pv, err := h.d.Services().StartImport(r.Context(), req, br)
	if err != nil {
		w.Header().Set("Connection", "close")
		return nil, err
	}
	// The rest (tar's padding) was read: a client waits for the end.
	io.Copy(io.Discard, io.LimitReader(br, 1<<20))
	c, _ := CallerOf(r)
	h.log.Info("import staged", "id", pv.ID, "services", len(pv.Services), "uid", c.UID())
	return pv, nil
}

func (h *handler) applyImport(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.ImportApply
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	res, err := h.d.Services().ApplyImport(r.Context(), r.PathValue("id"), req.Replace)
	if err != nil {
		return nil, err
	}
	c, _ := CallerOf(r)
	h.log.Info("import applied", "id", r.PathValue("id"), "services", strings.Join(res.Services, ","), "replace", req.Replace, "uid", c.UID())
	return res, nil
}

func (h *handler) cancelImport(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.d.Services().CancelImport(r.PathValue("id")); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
