package services

import (
	"strings"
	"testing"

	"tails-server/internal/catalog"
)

func TestCheckPoWQueue(t *testing.T) {
	for _, tc := range []struct {
		stored        map[string]string
		option, value string
		want          string // "" accepted, else a part of the message
	}{
		{nil, catalog.OptPoWQueueRate, "2500", ""},
		{nil, catalog.OptPoWQueueRate, "2501", "pow-queue-burst 2500 is below pow-queue-rate 2501 (tor would then not limit the rate at all): set pow-queue-burst 2501 or more first, or pow-queue-rate 2500 or less"},
		{nil, catalog.OptPoWQueueBurst, "250", ""},
		{nil, catalog.OptPoWQueueBurst, "249", "pow-queue-burst 249 is below pow-queue-rate 250 (tor would then not limit the rate at all): set pow-queue-burst 250 or more, or pow-queue-rate 249 or less first"},
		{map[string]string{catalog.OptPoWQueueRate: "0"}, catalog.OptPoWQueueBurst, "1", ""},
		{map[string]string{catalog.OptPoWQueueBurst: "10"}, catalog.OptPoWQueueRate, "0", ""},
		{map[string]string{catalog.OptPoWQueueBurst: "10"}, catalog.OptPoWQueueRate, "11", "pow-queue-burst 10 is below pow-queue-rate 11"},
		{map[string]string{catalog.OptPoWQueueBurst: "10", catalog.OptPoWQueueRate: "100"}, catalog.OptMaxStreams, "3", ""},
	} {
		m, s, _ := protectionService(t, tc.stored)
		s.mu.Lock()
		err := m.checkPoWQueue(s, tc.option, tc.value)
		s.mu.Unlock()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v, %s %s: %v", tc.stored, tc.option, tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%v, %s %s: %v, want one line with %q", tc.stored, tc.option, tc.value, err, tc.want)
		}
	}
}
