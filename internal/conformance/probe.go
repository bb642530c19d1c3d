package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/socks"
)

// prober runs a description's probe through a client tor's SOCKS port.
type prober struct {
	socks string // the client tor's SocksPort, 127.0.0.1:PORT
	// dial opens a stream to host:port; nil: through socks.
	dial func(ctx context.Context, target string) (net.Conn, error)
	// torsocks is the program a command probe runs under ("torsocks").
	torsocks string
	// refetch, when set, is called when no stream to the onion opens:
	// the descriptor the client tor holds may be one published before
	// the run's client was added, or before the service's tor restarted
	// or re-added it with other introduction points, and tor asks an
	// HSDir for a descriptor at most every 15 minutes by itself.
	refetch func(ctx context.Context, host string)
}

func (p *prober) connect(ctx context.Context, target string) (net.Conn, error) {
	if p.dial != nil {
		return p.dial(ctx, target)
	}
	return socks.Dial(ctx, p.socks, target, nil)
}

// once runs the probe one time against host (the onion host name).
func (p *prober) once(ctx context.Context, pr catalog.Probe, host string) error {
	ctx, cancel := context.WithTimeout(ctx, pr.Timeout)
	defer cancel()
	target := net.JoinHostPort(host, strconv.Itoa(pr.Port))
	if len(pr.Command) > 0 {
		err := p.command(ctx, pr, host)
		if err != nil && p.refetch != nil {
			p.refetch(context.WithoutCancel(ctx), host)
		}
		return err
	}
	c, err := p.connect(ctx, target)
	if err != nil {
		if p.refetch != nil {
			p.refetch(context.WithoutCancel(ctx), host)
		}
		return fmt.Errorf("no stream to port %d: %w", pr.Port, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if pr.HTTP != nil {
		return httpProbe(c, pr.HTTP, host)
	}
	return tcpProbe(c, pr.TCP)
}

// tcpProbe writes Send and reads until Expect matches what came.
func tcpProbe(c net.Conn, t *catalog.TCPProbe) error {
	if t == nil {
		return nil
	}
	if t.Send != "" {
		if _, err := io.WriteString(c, t.Send); err != nil {
			return fmt.Errorf("sending: %v", err)
		}
	}
	if t.Expect == nil {
		return nil
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < catalog.MaxProbeRead {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if t.Expect.Match(got) {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("the banner %s does not match %s (connection closed)", quoteStart(got), t.Expect)
			}
			return fmt.Errorf("the banner %s does not match %s (%v)", quoteStart(got), t.Expect, err)
		}
	}
	return fmt.Errorf("the first %d bytes (%s) do not match %s", len(got), quoteStart(got), t.Expect)
}

// httpProbe sends one GET and checks the status and body.
func httpProbe(c net.Conn, h *catalog.HTTPProbe, host string) error {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tails-server-check\r\nConnection: close\r\n\r\n", h.Path, host); err != nil {
		return fmt.Errorf("sending the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("GET %s: no HTTP answer: %v", h.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, catalog.MaxProbeRead))
	switch {
	case h.ExpectStatus != 0 && resp.StatusCode != h.ExpectStatus:
		return fmt.Errorf("GET %s: status %d, want %d", h.Path, resp.StatusCode, h.ExpectStatus)
	case h.ExpectStatus == 0 && resp.StatusCode >= 500:
		return fmt.Errorf("GET %s: status %d, want one below 500", h.Path, resp.StatusCode)
	case h.ExpectBody != nil && err != nil && !h.ExpectBody.Match(body):
		return fmt.Errorf("GET %s: reading the body: %v", h.Path, err)
	case h.ExpectBody != nil && !h.ExpectBody.Match(body):
		return fmt.Errorf("GET %s: status %d, but the body %s does not match %s", h.Path, resp.StatusCode, quoteStart(body), h.ExpectBody)
	}
	return nil
}

// command runs the probe's argv under torsocks, pointed at the client
// tor: no shell, each element one argument.
func (p *prober) command(ctx context.Context, pr catalog.Probe, host string) error {
	argv := probeArgv(pr.Command, host, pr.Port)
	shost, sport, err := net.SplitHostPort(p.socks)
	if err != nil {
		return err
	}
	bin := p.torsocks
	if bin == "" {
		bin = "torsocks"
	}
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = append(os.Environ(), "TORSOCKS_TOR_ADDRESS="+shost, "TORSOCKS_TOR_PORT="+sport)
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no exit within %s", pr.Timeout)
		}
		msg := fmt.Sprintf("%s: %v", argv[0], err)
		if last := lastLine(out.Bytes()); last != "" {
			msg += ": " + last
		}
		return errors.New(msg)
	}
	return nil
}

// probeArgv puts host and port in place of {host} and {port}.
func probeArgv(argv []string, host string, port int) []string {
	r := strings.NewReplacer(catalog.ProbeHost, host, catalog.ProbePort, strconv.Itoa(port))
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}

// capped is a buffer that keeps the first 16 KiB written to it.
type capped struct{ b bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := 16*1024 - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) Bytes() []byte { return c.b.Bytes() }

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return oneLine(lines[len(lines)-1])
}

// quoteStart quotes the first 80 bytes of b.
func quoteStart(b []byte) string {
	if len(b) > 80 {
		return strconv.Quote(string(b[:80])) + "..."
	}
	return strconv.Quote(string(b))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// until runs the probe until it passes or wait is over, and returns the
// last failure then.
func (p *prober) until(ctx context.Context, pr catalog.Probe, host string, wait time.Duration) error {
	return retry(ctx, wait, func() error { return p.once(ctx, pr, host) })
}

// retry calls f until it returns nil or wait is over (at least once), and
// returns its last error, with the number of tries.
func retry(ctx context.Context, wait time.Duration, f func() error) error {
	deadline := time.Now().Add(wait)
	tries := 0
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		tries++
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().Add(delay).After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%v (%d tries in %s)", err, tries, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}
