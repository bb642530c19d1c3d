package services

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/fileshare"
)

// optFileshareMessages is fileshare's messages option: "on" lets visitors
// leave a text message with or without files (services/fileshare.yaml).
const optFileshareMessages = "messages"

// messagesDir is where a fileshare service keeps its visitors' messages:
// inside its data directory (whose parents are root's), outside the
// shared and received folders.
func messagesDir(dataDir string) string {
	return filepath.Join(dataDir, fileshare.MessagesFolder)
}

// messageStore returns the message store of a service that takes
// messages, and whether it accepts them now.
func (m *Manager) messageStore(service string) (*fileshare.MessageStore, bool, error) {
	s, err := m.get(service)
	if err != nil {
		return nil, false, err
	}
	if s.def.Backend.Builtin != catalog.BuiltinFileshare {
		return nil, false, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%s takes no messages from visitors", service),
			Hint: "messages are fileshare's: `tails-server set-option fileshare messages on`"}
	}
	s.mu.Lock()
	on := m.value(s, optFileshareMessages) == "on" && m.value(s, optFileshareMode) != fileshare.ModeShare
	s.mu.Unlock()
	_, data := dirs(m.store, s.def.Name)
	return fileshare.NewMessageStore(messagesDir(data)), on, nil
}

// ListMessages lists the messages visitors left with a service, newest
// first; those kept from before are listed with the option off too.
func (m *Manager) ListMessages(service string) (apitype.MessageList, error) {
	st, on, err := m.messageStore(service)
	if err != nil {
		return apitype.MessageList{}, err
	}
	l, err := st.List()
	return apitype.MessageList{Service: service, Accepting: on, Messages: l}, err
}

// DeleteMessage deletes one message of a service by its ID.
func (m *Manager) DeleteMessage(service, id string) (apitype.DeleteMessageResult, error) {
	res := apitype.DeleteMessageResult{Service: service}
	st, _, err := m.messageStore(service)
	if err != nil {
		return res, err
	}
	err = st.Delete(id)
	switch {
	case fileshare.IsBadMessageID(err):
		return res, badRequest("%v", apitype.CheckMessageID(id))
	case errors.Is(err, fs.ErrNotExist):
		e := notFound("%s has no message %s", service, id)
		e.Hint = fmt.Sprintf("`tails-server messages %s` lists them", service)
		return res, e
	case err != nil:
		return res, err
	}
	res.Deleted = id
	return res, nil
}
