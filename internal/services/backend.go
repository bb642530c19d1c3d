package services

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/freeport"
	"tails-server/internal/install"
	"tails-server/internal/staticweb"
	"tails-server/internal/store"
	"tails-server/internal/supervise"
)

// Backend is a running service backend, listening on a local port.
type Backend interface {
	// Addr is the loopback address tor forwards the onion ports to.
	Addr() string
	// Logs returns the last n lines the backend wrote (nil if it keeps
	// none).
	Logs(n int) []string
	// Follow streams new lines until ctx ends (nil if it keeps none).
	Follow(ctx context.Context) <-chan string
	// Target returns the loopback address of a named local port
	// ("local" or an extra port).
	Target(name string) (string, bool)
	Close() error
}

// builtin is what the backends run inside the daemon share: one local
// port, and no output of their own.
type builtin struct {
	addr string // loopback address of the local port
}

func (b builtin) Addr() string                         { return b.addr }
func (b builtin) Logs(int) []string                    { return nil }
func (b builtin) Follow(context.Context) <-chan string { return nil }

// Target returns the loopback address of a named local port.
func (b builtin) Target(name string) (string, bool) {
	return b.addr, name == catalog.LocalPortName
}

// builtinWeb is the built-in web backend: staticweb inside the daemon.
type builtinWeb struct {
	*staticweb.Server
	builtin
}

// process is a command backend under the supervisor.
type process struct {
	*supervise.Process
	addr  string
	extra map[string]string
}

func (p *process) Addr() string { return p.addr }
func (p *process) Close() error { p.Stop(); return nil }

// dirs are a service's directories: config and data, inside its root.
func dirs(st *store.Store, name string) (config, data string) {
	d := st.ServiceDir(name)
	return filepath.Join(d, "config"), filepath.Join(d, "data")
}

// startBackend installs what the service needs, renders its config, starts
// its backend and waits for its health check. It returns the backend and
// the local port. Nothing it leaves behind on failure is half-written: the
// config files are replaced atomically and a backend that started is
// stopped again. A command backend tells watch when it exits and when the
// supervisor has started it again (evBackendExited, evBackendRestarted).
func startBackend(ctx context.Context, def *catalog.Service, st *store.Store, values map[string]string, address string,
	in *install.Installer, log *slog.Logger, progress func(apitype.Progress), watch func(*supervise.Process, event, string)) (Backend, error) {
	listen := "127.0.0.1"
	if values[catalog.OptAllowLAN] == "true" {
		listen = "0.0.0.0"
	}
	port := def.LocalPort
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	configDir, dataDir := dirs(st, def.Name)
	env := catalog.Env{Config: configDir, Data: dataDir, Listen: listen, Port: port, Ports: map[string]int{}}
	if address != "" {
		// Templates get the onion host name (.address, {{address}}).
		env.Address = address + ".onion"
	}
	for _, p := range def.ExtraPorts {
		n := p.Port
		if n == 0 {
			var err error
			if n, err = freePort(); err != nil {
				return nil, err
			}
		}
		env.Ports[p.Name] = n
	}
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	if def.Backend.Builtin == catalog.BuiltinWeb {
		root := filepath.Join(dataDir, "www")
		if err := staticweb.WriteWelcome(root, values["title"]); err != nil {
			return nil, err
		}
		srv, err := staticweb.Serve(root, net.JoinHostPort(listen, strconv.Itoa(port)),
			staticweb.Options{FileTimes: values[optFileTimes] == "true"})
		if err != nil {
			return nil, err
		}
		return &builtinWeb{Server: srv, builtin: builtin{addr: local}}, nil
	}
	if def.Backend.Builtin == catalog.BuiltinFileshare {
		return startFileshare(dataDir, listen, port, values)
	}
	if def.Backend.Builtin != "" {
		return nil, fmt.Errorf("built-in backend %q is not available in this version", def.Backend.Builtin)
	}

	if len(def.Packages) > 0 {
		err := in.Install(ctx, def.Packages, func(p install.Progress) {
			if p.Stage == install.StageCheck || p.Stage == install.StageUnits {
				progress(apitype.Progress{Step: p.Message})
				return
			}
			pct := p.Percent
			progress(apitype.Progress{Step: p.Stage + ": " + p.Message, Percent: &pct})
		})
		if err != nil {
			return nil, err
		}
	}
	cred, gid, err := backendUser(def)
	if err != nil {
		return nil, err
	}
	env.UID, env.GID = os.Geteuid(), os.Getegid()
	if cred != nil {
		env.UID, env.GID = int(cred.Uid), int(cred.Gid)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	if err := ownDataDir(def, dataDir, cred); err != nil {
		return nil, err
	}
	if err := writeConfigs(def, values, env, configDir, gid); err != nil {
		return nil, err
	}
	expand := func(s string) (string, error) { return catalog.Expand(def, s, values, env, nil) }
	argv := make([]string, len(def.Backend.Command))
	for i, a := range def.Backend.Command {
		if argv[i], err = expand(a); err != nil {
			return nil, err
		}
	}
	if len(def.Hooks.PostInstall) > 0 {
		if err := runHook(ctx, def, def.Hooks.PostInstall, expand, nil, dataDir); err != nil {
			return nil, fmt.Errorf("post-install hook: %w", err)
		}
	}
	if len(def.Hooks.PreStart) > 0 && !hookDone(def.Hooks.PreStartCreates, expand) {
		if err := runHook(ctx, def, def.Hooks.PreStart, expand, runAs(def, cred), dataDir); err != nil {
			return nil, fmt.Errorf("pre-start hook: %w", err)
		}
	}
	envv := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dataDir, "LANG=C.UTF-8"}
	for k, v := range def.Backend.Env {
		ev, err := expand(v)
		if err != nil {
			return nil, err
		}
		envv = append(envv, k+"="+ev)
	}
	workdir := dataDir
	if def.Backend.Workdir != "" {
		if workdir, err = expand(def.Backend.Workdir); err != nil {
			return nil, err
		}
	}
	proc, err := supervise.Start(supervise.Spec{
		Name: def.Name, Argv: argv, Env: envv, Dir: workdir, Credential: runAs(def, cred),
		LogPath: filepath.Join(st.ServiceDir(def.Name), "backend.log"),
		OnExit: func(p *supervise.Process, how string) {
			watch(p, evBackendExited, "the backend exited ("+how+"); the daemon starts it again")
		},
		OnRestart: func(p *supervise.Process) { watch(p, evBackendRestarted, "") },
	}, log)
	if err != nil {
		return nil, err
	}
	b := &process{Process: proc, addr: local, extra: map[string]string{}}
	for name, p := range env.Ports {
		b.extra[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	progress(apitype.Progress{Step: "waiting for " + def.Name + " to answer on " + local})
	if err := waitHealthy(ctx, def, local, expand); err != nil {
		b.Close()
		tail := b.Logs(3)
		if len(tail) > 0 {
			return nil, fmt.Errorf("%w; its last output: %q", err, tail[len(tail)-1])
		}
		return nil, err
	}
	return b, nil
}

// writeConfigs renders every config file first, then writes them, each
// atomically; a render error writes nothing.
func writeConfigs(def *catalog.Service, values map[string]string, env catalog.Env, dir string, gid int) error {
	rendered := make([][]byte, len(def.ConfigFiles))
	for i, cf := range def.ConfigFiles {
		b, err := catalog.RenderConfig(def, cf, values, env)
		if err != nil {
			return err
		}
		rendered[i] = b
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if gid >= 0 {
		os.Chown(dir, 0, gid)
	}
	for i, cf := range def.ConfigFiles {
		path := filepath.Join(dir, cf.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		if gid >= 0 {
			// The folders between dir and the file are the backend's
			// to read too (ngIRCd's IncludeDir, for one).
			for d := filepath.Dir(path); d != dir && strings.HasPrefix(d, dir+string(filepath.Separator)); d = filepath.Dir(d) {
				if err := os.Lchown(d, 0, gid); err != nil {
					return err
				}
			}
		}
		mode := cf.Mode
		if mode == 0 {
			mode = 0o640
		}
		if err := store.WriteFile(path, rendered[i], mode); err != nil {
			return err
		}
		if gid >= 0 {
			if err := os.Chown(path, 0, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// backendUser returns the credential the backend runs with (creating the
// system user if the service asks), and its group id; nil and -1 when the
// daemon does not run as root (then the backend runs as the daemon's user).
func backendUser(def *catalog.Service) (*syscall.Credential, int, error) {
	if os.Geteuid() != 0 || def.Backend.User == "" {
		return nil, -1, nil
	}
	u, err := user.Lookup(def.Backend.User)
	if err != nil && def.Backend.CreateUser {
		out, cerr := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--", def.Backend.User).CombinedOutput()
		if cerr != nil {
			return nil, -1, fmt.Errorf("creating user %s: %s", def.Backend.User, firstLine(string(out)))
		}
		u, err = user.Lookup(def.Backend.User)
	}
	if err != nil {
		return nil, -1, fmt.Errorf("user %s does not exist", def.Backend.User)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, gid, nil
}

// chownTree gives dir and everything in it to uid:gid. It runs as root
// over a tree the backend's user can write, so every path is resolved
// inside dir (os.Root): a directory swapped for a symlink meanwhile
// cannot lead it outside, and symlinks themselves are not followed.
func chownTree(dir string, uid, gid int) error { return chownWalk(dir, uid, gid, true) }

// chownContents is chownTree but for dir itself, which keeps its owner.
func chownContents(dir string, uid, gid int) error { return chownWalk(dir, uid, gid, false) }

func chownWalk(dir string, uid, gid int, self bool) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." && !self {
			return nil
		}
		return root.Lchown(p, uid, gid)
	})
}

func runHook(ctx context.Context, def *catalog.Service, argv []string, expand func(string) (string, error),
	cred *syscall.Credential, dir string) error {
	args := make([]string, len(argv))
	for i, a := range argv {
		v, err := expand(a)
		if err != nil {
			return err
		}
		args[i] = v
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(hctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", args[0], err, firstLine(string(out)))
	}
	return nil
}

// waitHealthy polls the service's health check until it passes or the
// check's timeout runs out.
func waitHealthy(ctx context.Context, def *catalog.Service, addr string, expand func(string) (string, error)) error {
	timeout := def.Health.Timeout
	if timeout <= 0 {
		timeout = catalog.DefaultHealthTimeout
	}
	deadline := time.Now().Add(timeout)
	var err error
	// Most backends answer within milliseconds: poll fast first.
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		if err = checkHealth(ctx, def, addr, expand); err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not pass its health check within %s: %v", def.Name, timeout, err)
		}
		time.Sleep(delay)
	}
}

func checkHealth(ctx context.Context, def *catalog.Service, addr string, expand func(string) (string, error)) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch {
	case def.Health.HTTP != nil:
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+addr+def.Health.HTTP.Path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return checkStatus(def.Health.HTTP, resp.StatusCode)
	case len(def.Health.Command) > 0:
		args := make([]string, len(def.Health.Command))
		for i, a := range def.Health.Command {
			v, err := expand(a)
			if err != nil {
				return err
			}
			args[i] = v
		}
		if out, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", args[0], err, firstLine(string(out)))
		}
		return nil
	default:
		var d net.Dialer
		c, err := d.DialContext(cctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func checkStatus(h *catalog.HTTPCheck, code int) error {
	if h.ExpectStatus != 0 && code != h.ExpectStatus {
		return fmt.Errorf("HTTP %d, want %d", code, h.ExpectStatus)
	}
	if h.ExpectStatus == 0 && code >= 500 {
		return fmt.Errorf("HTTP %d", code)
	}
	return nil
}

// probe is the self-check through the onion: the SOCKS connection proves
// the onion and the backend port; for HTTP services a GET must answer.
func probe(def *catalog.Service, conn net.Conn, host string) error {
	if def.Health.HTTP == nil {
		return nil
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+def.Health.HTTP.Path, nil)
	req.Header.Set("User-Agent", "tails-server-selfcheck")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("no HTTP answer through the onion: %w", err)
	}
	resp.Body.Close()
	return checkStatus(def.Health.HTTP, resp.StatusCode)
}

// freePort picks a backend's local port (freeport: below the ephemeral
// range, so that no outgoing connection takes it before the backend binds).
func freePort() (int, error) {
	ps, err := freeport.Pick(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
