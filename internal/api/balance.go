package api

import (
	"errors"
	"net/http"

	"tails-server/internal/apitype"
	"tails-server/internal/balance"
	"tails-server/internal/services"
)

// BalanceDaemon is what a daemon that runs Onionbalance masters offers.
type BalanceDaemon interface {
	Balance() *balance.Manager
}

func (h *handler) balances() (*balance.Manager, error) {
	d, ok := h.d.(BalanceDaemon)
	if !ok || d.Balance() == nil {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: "this daemon runs no Onionbalance masters"}
	}
	return d.Balance(), nil
}

// balanceErr turns the balance package's user errors into the API's.
func balanceErr(err error) error {
	var be *balance.Error
	if errors.As(err, &be) {
		status := be.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return &services.Error{Status: status, Msg: be.Msg, Hint: be.Hint}
	}
	return err
}

// withBalance runs fn on the daemon's balance manager.
func (h *handler) withBalance(fn func(m *balance.Manager) (any, error)) (any, error) {
	m, err := h.balances()
	if err != nil {
		return nil, err
	}
	v, err := fn(m)
	if err != nil {
		return nil, balanceErr(err)
	}
	return v, nil
}

func (h *handler) balanceList(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.withBalance(func(m *balance.Manager) (any, error) { return m.List(), nil })
}

func (h *handler) balanceCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.BalanceCreateRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.withBalance(func(m *balance.Manager) (any, error) { return m.Create(req.Name, req.OnionKey) })
}

func (h *handler) balanceStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.withBalance(func(m *balance.Manager) (any, error) {
		return m.Status(r.Context(), r.PathValue("name"))
	})
}

func (h *handler) balanceAdd(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.BalanceInstanceRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.withBalance(func(m *balance.Manager) (any, error) { return m.Add(r.PathValue("name"), req.Address) })
}

func (h *handler) balanceRemove(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.BalanceInstanceRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.withBalance(func(m *balance.Manager) (any, error) { return m.Remove(r.PathValue("name"), req.Address) })
}

func (h *handler) balanceDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.withBalance(func(m *balance.Manager) (any, error) {
		return struct{}{}, m.Delete(r.PathValue("name"))
	})
}
