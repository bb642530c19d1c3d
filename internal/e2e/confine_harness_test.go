package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/tor"
)

// inNetns runs f on a thread moved into network namespace ns: the
// sockets it opens live there. The thread is not given back.
func inNetns(t *testing.T, ns string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		fd, err := syscall.Open("/run/netns/"+ns, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer syscall.Close(fd)
		if _, _, e := syscall.RawSyscall(sysSetns(), uintptr(fd), syscall.CLONE_NEWNET, 0); e != 0 {
			done <- e
			return
		}
		done <- f()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// sysSetns is setns(2)'s number, which package syscall lacks.
func sysSetns() uintptr {
	if runtime.GOARCH == "arm64" {
		return 268
	}
	return 308 // amd64
}

// lan is a second namespace standing in for the LAN: a veth to the host
// (10.231.77.1 host side, 10.231.77.2 inside), a TCP server greeting with
// "hello from lan" and a UDP port counting datagrams.
type lan struct {
	addr     string
	tcp, udp int
	mu       sync.Mutex
	got      int
}

func (l *lan) datagrams() int { l.mu.Lock(); defer l.mu.Unlock(); return l.got }

func startLAN(t *testing.T) *lan {
	t.Helper()
	ns := fmt.Sprintf("e2elan%d", os.Getpid()%100000)
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("link", "add", "e2elan0", "type", "veth", "peer", "name", "e2elan1", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", "e2elan0").Run() })
	run("addr", "add", "10.231.77.1/24", "dev", "e2elan0")
	run("link", "set", "e2elan0", "up")
	run("-n", ns, "addr", "add", "10.231.77.2/24", "dev", "e2elan1")
	run("-n", ns, "link", "set", "e2elan1", "up")
	run("-n", ns, "link", "set", "lo", "up")
	l := &lan{addr: "10.231.77.2"}
	inNetns(t, ns, func() error {
		ln, err := net.Listen("tcp", "10.231.77.2:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		l.tcp = ln.Addr().(*net.TCPAddr).Port
		go serveGreeting(ln, "lan")
		pc, err := net.ListenPacket("udp", "10.231.77.2:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { pc.Close() })
		l.udp = pc.LocalAddr().(*net.UDPAddr).Port
		go countDatagrams(pc, &l.mu, &l.got)
		return nil
	})
	return l
}

func serveGreeting(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from %s\n", name)
			// Half-close and drain the request, so that curl sees no
			// reset.
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		}()
	}
}

func countDatagrams(pc net.PacketConn, mu *sync.Mutex, n *int) {
	buf := make([]byte, 512)
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return
		}
		mu.Lock()
		*n++
		mu.Unlock()
	}
}

// hostListen listens on the host at addr ("IP:0") and greets, or counts
// datagrams for udp.
func hostListen(t *testing.T, network, addr, name string, mu *sync.Mutex, n *int) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go countDatagrams(pc, mu, n)
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveGreeting(ln, name)
	return ln.Addr().(*net.TCPAddr).Port
}

// leftovers lists what of confinement is on the host: namespaces ts-*,
// links ts-h*/ts-n*, tables ts_confine_*.
func leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "ts-") {
				out = append(out, "namespace "+e.Name())
			}
		}
	}
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (strings.HasPrefix(f[1], "ts-h") || strings.HasPrefix(f[1], "ts-n")) {
			out = append(out, "link "+f[1])
		}
	}
	tables, _ := exec.Command("nft", "list", "tables").Output()
	for _, l := range strings.Split(string(tables), "\n") {
		if strings.Contains(l, "ts_confine_") {
			out = append(out, l)
		}
	}
	return out
}

// onion publishes an onion service on the daemon's tor, forwarding to
// d, and returns its address (without .onion).
func (c *confineEnv) onion(t testing.TB, vol string, d dest) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vol, "tor", "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(strings.TrimSpace(string(b)), "PORT=")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := tor.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.AuthenticateCookie(ctx, filepath.Join(vol, "tor", "control_auth_cookie")); err != nil {
		t.Fatal(err)
	}
	r, err := conn.AddOnion(ctx, tor.AddOnionRequest{Ports: []tor.PortMapping{{Virtual: 80, Target: strconv.Itoa(d.port)}}, Flags: []string{"DiscardPK"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.ServiceID
}
