package balance

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/socks"
)

// obStatus is what onionbalance's status socket answers (hs_v3/status.py).
type obStatus struct {
	Services []struct {
		OnionAddress  string  `json:"onionAddress"`
		PublishFirst  *string `json:"publishAttemptFirstDescriptor"`
		PublishSecond *string `json:"publishAttemptSecondDescriptor"`
		Instances     []struct {
			OnionAddress     string  `json:"onionAddress"`
			Received         *string `json:"received"`
			DescReceived     *string `json:"descriptorReceived"`
			IntroSetModified *string `json:"introSetModified"`
			IntroPointsNum   int     `json:"introPointsNum"`
		} `json:"instances"`
	} `json:"services"`
}

// obTime parses onionbalance's "%Y-%m-%d %H:%M:%S" times (UTC: it
// takes them from datetime.utcnow).
func obTime(s *string) *time.Time {
	if s == nil || *s == "" {
		return nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", *s, time.UTC)
	if err != nil {
		return nil
	}
	return &t
}

// readStatus asks the status socket at path.
func readStatus(ctx context.Context, path string) (*obStatus, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return nil, err
	}
	var st obStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("onionbalance's status socket answered malformed JSON: %w", err)
	}
	return &st, nil
}

// probeTimeout bounds one probe of an instance through the front tor.
const probeTimeout = 30 * time.Second

// probe tells whether addr (with ".onion") answers a rendezvous through
// the front tor's SOCKS port: a connection, or a refusal of the stream
// once the rendezvous is made, is an instance that is up; an onion
// error (descriptor, introduction, rendezvous) or a timeout is one that
// is not. Each probe has SOCKS credentials of its own, so a circuit of an
// earlier one is never reused.
func probe(ctx context.Context, socksAddr, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var rb [8]byte
	rand.Read(rb[:])
	auth := &socks.Auth{Username: "balance-probe", Password: fmt.Sprintf("%x-%d", rb, time.Now().UnixNano())}
	c, err := socks.Dial(ctx, socksAddr, addr+":80", auth)
	if err == nil {
		c.Close()
		return true
	}
	var re *socks.ReplyError
	if errors.As(err, &re) {
		return re.Code < 0xF0 && re.Code != socks.CodeTTLExpired && re.Code != socks.CodeGeneralFailure
	}
	return false
}

// Status asks onionbalance, through its status socket, how the master
// and its instances are, and probes each instance through the front tor.
// An instance is "missing" when onionbalance has no descriptor of it, or
// one older than its limit, or when it does not answer a rendezvous.
func (m *Manager) Status(ctx context.Context, name string) (apitype.BalanceStatus, error) {
	m.mu.Lock()
	r, err := m.get(name)
	if err != nil {
		m.mu.Unlock()
		return apitype.BalanceStatus{}, err
	}
	st := apitype.BalanceStatus{Balance: m.out(r), Process: processLine(m.procs[name]), Members: []apitype.BalanceMember{}}
	instances := append([]string(nil), r.Instances...)
	socksAddr, running := m.socks, m.procs[name] != nil
	m.mu.Unlock()

	var ob *obStatus
	if running {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ob, err = readStatus(sctx, m.socketPath(name))
		cancel()
		if err != nil {
			st.Error = "onionbalance's status socket does not answer yet (it starts, then waits 45 s before its first fetch): " + err.Error()
		}
	} else if len(instances) > 0 {
		st.Error = "onionbalance is not running: " + st.Process
	}
	limit := 60 * time.Minute // onionbalance's INSTANCE_DESCRIPTOR_TOO_OLD
	if m.opt.Testnet {
		// INSTANCE_DESCRIPTOR_TOO_OLD_TESTNET is 20 s, as long as its
		// fetch interval: a fetch's own delay must not count.
		limit = 60 * time.Second
	}
	byAddr := map[string]apitype.BalanceMember{}
	if ob != nil {
		for _, s := range ob.Services {
			if strings.TrimSuffix(s.OnionAddress, ".onion") != r.Address {
				continue
			}
			st.PublishedFirst, st.PublishedSecond = obTime(s.PublishFirst), obTime(s.PublishSecond)
			for _, in := range s.Instances {
				a := strings.TrimSuffix(in.OnionAddress, ".onion")
				got := in.DescReceived
				if got == nil {
					got = in.Received
				}
				byAddr[a] = apitype.BalanceMember{Address: a + ".onion", Fetched: obTime(got),
					IntroPoints: in.IntroPointsNum, IntroSetModified: obTime(in.IntroSetModified)}
			}
		}
	}
	reach := make([]bool, len(instances))
	if socksAddr != "" {
		var wg sync.WaitGroup
		for i, a := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reach[i] = probe(ctx, socksAddr, a+".onion")
			}()
		}
		wg.Wait()
	}
	now := time.Now()
	for i, a := range instances {
		mb, ok := byAddr[a]
		if !ok {
			mb = apitype.BalanceMember{Address: a + ".onion"}
		}
		mb.Reachable = reach[i]
		mb.State = "up"
		if mb.Fetched == nil || now.Sub(*mb.Fetched) > limit || !reach[i] {
			mb.State = "missing"
		}
		st.Members = append(st.Members, mb)
	}
	return st, nil
}
