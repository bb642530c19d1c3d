package services

import (
	"fmt"
	"net/http"
	"strconv"

	"tails-server/internal/catalog"
)

// checkPoWQueue refuses a pow-queue-burst below pow-queue-rate (rate 0,
// no limit, takes any burst) once option is set to v. Tor refuses such a
// pair in a torrc ("PoW queue burst can not be smaller than the rate
// value") but tor 0.4.9's ADD_ONION takes it and then drops the rate
// limit altogether (its priority queue is rate-limited only when burst ≥
// rate, hs_service.c), so the service would run with less protection than
// asked for. Call with s.mu held.
func (m *Manager) checkPoWQueue(s *service, option, v string) error {
	rate, burst := m.value(s, catalog.OptPoWQueueRate), m.value(s, catalog.OptPoWQueueBurst)
	switch option {
	case catalog.OptPoWQueueRate:
		rate = v
	case catalog.OptPoWQueueBurst:
		burst = v
	default:
		return nil
	}
	r, err1 := strconv.Atoi(rate)
	b, err2 := strconv.Atoi(burst)
	if err1 != nil || err2 != nil || r == 0 || b >= r {
		return nil
	}
	fix := fmt.Sprintf("set %s %d or more first, or %s %d or less", catalog.OptPoWQueueBurst, r, catalog.OptPoWQueueRate, b)
	if option == catalog.OptPoWQueueBurst {
		fix = fmt.Sprintf("set %s %d or more, or %s %d or less first", catalog.OptPoWQueueBurst, r, catalog.OptPoWQueueRate, b)
	}
	return &Error{Status: http.StatusBadRequest,
		Msg: fmt.Sprintf("%s %d is below %s %d (tor would then not limit the rate at all): %s",
			catalog.OptPoWQueueBurst, b, catalog.OptPoWQueueRate, r, fix)}
}
