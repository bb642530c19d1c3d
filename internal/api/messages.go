package api

import "net/http"

// The messages endpoints list and delete the text messages visitors left
// with a service (fileshare with its messages option on). Who may call
// them is who may call the files endpoints: whoever holds the socket.
// A delete is logged with the caller's uid and the ID, never a text.

func (h *handler) listMessages(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().ListMessages(r.PathValue("name"))
}

func (h *handler) deleteMessage(w http.ResponseWriter, r *http.Request) (any, error) {
	res, err := h.d.Services().DeleteMessage(r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	c, _ := CallerOf(r)
	h.log.Info("message deleted", "service", res.Service, "id", res.Deleted, "uid", c.UID())
	return res, nil
}
