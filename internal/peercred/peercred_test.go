package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Both ends of a unix socket see the other's pid and uid: here the same
// process.
func TestOf(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	for _, conn := range []net.Conn{c, s} {
		cred, err := Of(conn)
		if err != nil {
			t.Fatal(err)
		}
		if cred.PID != os.Getpid() || cred.UID != os.Getuid() || cred.GID != os.Getgid() {
			t.Fatalf("credentials %+v, want pid %d uid %d gid %d", cred, os.Getpid(), os.Getuid(), os.Getgid())
		}
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tc, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := Of(tc); err == nil {
		t.Fatal("credentials of a TCP connection")
	}
}
