package services

import (
	"fmt"
	"net/http"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/fileshare"
)

// Transfers returns the transfers of a service that records them (a
// built-in fileshare): those under way, with their bytes so far, and the
// last finished ones, newest first. The history stays, in memory, after
// the service stops (auto-stop, max-downloads, disable) until the daemon
// does.
func (m *Manager) Transfers(name string) (apitype.Transfers, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Transfers{}, err
	}
	if s.def.Backend.Builtin != catalog.BuiltinFileshare {
		return apitype.Transfers{}, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%s records no transfers", name),
			Hint: "the built-in fileshare service does"}
	}
	s.mu.Lock()
	h := s.transfers
	s.mu.Unlock()
	return apitype.Transfers{Service: name, InProgress: transfersOut(h.InProgress()), History: transfersOut(h.Done())}, nil
}

// TransferTotals returns how many transfers of a fileshare service
// finished since the daemon started, by kind and completion; nil for a
// service that records none.
func (m *Manager) TransferTotals(name string) map[fileshare.TotalKey]int64 {
	s, err := m.get(name)
	if err != nil || s.def.Backend.Builtin != catalog.BuiltinFileshare {
		return nil
	}
	s.mu.Lock()
	h := s.transfers
	s.mu.Unlock()
	return h.Totals()
}

// transfersOut is what the API shows of fileshare's transfers: always a
// list, empty when there are none.
func transfersOut(ts []fileshare.Transfer) []apitype.Transfer {
	out := make([]apitype.Transfer, 0, len(ts))
	for _, t := range ts {
		a := apitype.Transfer{Kind: t.Kind, Name: t.Name, Start: t.Start, Bytes: t.Bytes, Complete: t.Complete}
		if !t.End.IsZero() {
			end := t.End
			a.End = &end
		}
		if t.Size >= 0 {
			size := t.Size
			a.Size = &size
		}
		out = append(out, a)
	}
	return out
}
