// Package peercred reads who is at the other end of a unix socket: the
// kernel's SO_PEERCRED record (pid, uid, gid of the process that connected,
// or that listened), which the peer cannot forge. The daemon's API uses it
// to know its caller; the client uses it to know that the daemon it talks
// to is root's (or its own user's) before it sends anything. Linux only,
// like the rest of tails-server; the standard library's syscall package has
// all it needs.
package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Cred is a peer's credentials, as the kernel recorded them at connect()
// (for the listening side: at listen()).
type Cred struct {
	PID int
	UID int
	GID int
}

// String is "uid N (pid P)", for logs.
func (c Cred) String() string { return fmt.Sprintf("uid %d (pid %d)", c.UID, c.PID) }

// Of returns the credentials of conn's peer; conn must be a unix socket.
func Of(conn net.Conn) (Cred, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Cred{}, errors.New("peer credentials: not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var u *syscall.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		u, gerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if gerr != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", gerr)
	}
	return Cred{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}, nil
}

type ctxKey struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c Cred) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the credentials NewContext put in ctx.
func FromContext(ctx context.Context) (Cred, bool) {
	c, ok := ctx.Value(ctxKey{}).(Cred)
	return c, ok
}

// ConnContext is an http.Server's ConnContext for a unix listener: every
// request's context carries its connection's peer credentials. A
// connection whose credentials cannot be read carries none (handlers then
// refuse it).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cred, err := Of(c); err == nil {
		return NewContext(ctx, cred)
	}
	return ctx
}
