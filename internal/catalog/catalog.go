// Package catalog loads the service catalog: one declarative YAML file per
// hosted service, saying what to install, how to run and configure it, which
// ports to publish as an onion service, what to persist and which options
// the user may set. Adding a service needs no Go code, only a file; the
// format is described in docs/services.md.
//
// Files are decoded strictly, by walking go.yaml.in/yaml/v3's yaml.Node tree
// (rather than yaml.Unmarshal) so that unknown and duplicate keys are errors
// and every error names the line of the offending node. A bad file is
// reported and skipped; it never stops the others from loading.
package catalog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultDir is where third-party catalog files are read from by default.
const DefaultDir = "/etc/tails-server/catalog.d"

// Size limits of the files a catalog entry reads, in bytes.
const (
	MaxFileSize     = 256 * 1024 // a service's YAML file, or a template_file
	MaxIconSize     = 64 * 1024  // an icon
	maxErrorsInFile = 20
)

// Built-in backends, the values of Backend.Builtin.
const (
	BuiltinWeb       = "web"       // static web site served by the daemon
	BuiltinFileshare = "fileshare" // OnionShare-like file sharing
)

// Service is one catalog entry, as loaded from its file. Services returned by
// a Catalog are shared and must not be modified.
type Service struct {
	Name          string   // id, ^[a-z][a-z0-9-]{0,31}$; equals the file name without .yaml
	Title         string   // name shown in the GUI
	Description   string   // one line
	Documentation string   // http(s) URL, or empty
	Icon          string   // file name of an SVG next to the YAML file, or empty
	Packages      []string // Debian packages to install
	Backend       Backend
	// LocalPort is the TCP port the backend listens on; 0 means "auto": the
	// daemon picks a free one. The listen address is the daemon's choice
	// (127.0.0.1 unless the allow-lan option is on).
	LocalPort int
	// ExtraPorts are further named local ports, for services that listen on
	// several; onion ports may target them by name.
	ExtraPorts []NamedPort
	OnionPorts []OnionPort
	// Persist lists paths, relative to the service's data directory, that the
	// persistence option keeps across reboots ("." is the whole directory).
	Persist []string
	// MaxStreams is the default of the max-streams option: the streams
	// one visitor's rendezvous circuit may have open at once (key
	// max_streams, 1-65535); 0: DefaultMaxStreams.
	MaxStreams int
	Options    []Option // the service's own options; see also CommonOptions
	// Content are the folders of the host's own content (files offered to
	// visitors, files received from them) that the `files` verbs work on.
	Content     []ContentFolder
	ConfigFiles []ConfigFile
	Health      Health
	// Probe is how `tails-server check` proves the service through its
	// onion; nil: DefaultProbe, the health check through the onion.
	Probe   *Probe
	Connect Connect
	Hooks   Hooks

	// UsableWhen are the conditions without which no one can use the
	// service (log in, connect): each one not met is a warning.
	UsableWhen []UsableWhen

	// Source is where the entry came from: "builtin:NAME.yaml" for the
	// built-in catalog, or the file's path.
	Source string

	icon []byte
}

// IconSVG returns the content of the icon file, or nil if there is none.
func (s *Service) IconSVG() []byte { return s.icon }

// Option returns the service's own option of that name.
func (s *Service) Option(name string) (*Option, bool) {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return &s.Options[i], true
		}
	}
	return nil, false
}

// Backend says how a service's server runs: inside the daemon (Builtin) or
// as a separate program (Command), never both.
type Backend struct {
	// Builtin names a backend run inside the daemon: "web" or "fileshare".
	Builtin string
	// Command is the program's argv (never a shell string); each element is
	// a template (see docs/services.md), e.g. "{{config}}/lighttpd.conf".
	Command []string
	// User is the unprivileged user Command runs as; never root.
	User string
	// CreateUser asks the daemon to create User as a system user.
	CreateUser bool
	// Privileged says the program drops privileges itself: the daemon
	// starts it (and its hooks) as root, and the program runs its work as
	// User (e.g. sshd, whose ChrootDirectory and logins need a root
	// master). Allowed only with CreateUser, so that User is a user of the
	// service's own. The data directory itself then stays root's (mode
	// 0755, as a chroot needs); what it holds is User's.
	Privileged bool
	// Env holds extra environment variables; values are templates.
	Env map[string]string
	// Workdir is the working directory, a template; empty means the data
	// directory.
	Workdir string
}

// NamedPort is an extra local port of a service.
type NamedPort struct {
	Name string // ^[a-z][a-z0-9-]*$, not "local"
	Port int    // 1024-65535, or 0 for "auto"
}

// LocalPortName is the name onion ports use to target Service.LocalPort.
const LocalPortName = "local"

// OnionPort maps a virtual port of the onion service to a local port.
type OnionPort struct {
	Virtual int    // port clients connect to on the .onion, 1-65535
	Target  string // "local" or the name of one of the ExtraPorts
}

// formats are the values of ConfigFile.Format.
var formats = []string{"ini", "conf", "yaml", "lua", "xml", "shell", "php"}

// ConfigFile is a configuration file the daemon writes, from a template,
// before starting the backend.
type ConfigFile struct {
	// Path is relative to the service's config directory; it never leaves it.
	Path string
	// Format is ini, conf, yaml, lua, xml, shell or php; it tells the renderer
	// how to escape values inserted into the template.
	Format string
	// Template is the text/template source, inline or read from
	// TemplateFile at load.
	Template string
	// TemplateFile is the file (next to the YAML file) Template was read
	// from, or empty if it was inline.
	TemplateFile string
	Mode         fs.FileMode // permission bits; default 0640, never world-writable
}

// Health says how the daemon checks that the backend is up: exactly one of
// TCP, HTTP and Command is set.
type Health struct {
	TCP     bool       // a TCP connection to the local port succeeds
	HTTP    *HTTPCheck // an HTTP GET on the local port answers
	Command []string   // argv exits 0; elements are templates
	Timeout time.Duration
}

// DefaultHealthTimeout is Health.Timeout when the file sets none.
const DefaultHealthTimeout = 10 * time.Second

// HTTPCheck is an HTTP health check.
type HTTPCheck struct {
	Path string // starts with "/"
	// ExpectStatus is the status wanted; 0 means any status below 500.
	ExpectStatus int
}

// Connect tells users how to reach the service.
type Connect struct {
	// URI is a template giving the address clients open, e.g.
	// "mumble://{{.address}}:{{.port}}", where .address is the onion host
	// name and .port the first onion port's virtual port.
	URI          string
	Instructions []Instruction
	// Details are further facts a client needs (a server password, a
	// host key fingerprint), shown by `share` next to the address.
	Details []Detail
}

// Detail is one labelled fact shown by `share`: either Value, a template
// like URI, or the first line of the file whose path the File template
// gives (inside the service's config or data directory), e.g. a host key
// fingerprint a hook wrote.
type Detail struct {
	Label string
	Value string
	File  string
	// Secret marks a value to keep out of sight until asked for (the GUI
	// masks it); `share` prints it, as it prints credentials.
	Secret bool
}

// Instruction is a short text on how to connect with one client app.
type Instruction struct {
	Client string // e.g. "Tor Browser"
	Text   string
}

// Hooks are commands for what a configuration template cannot do. Each is an
// argv whose elements are templates; empty means none.
type Hooks struct {
	PostInstall []string // after the packages are installed, as root
	PreStart    []string // before each start of the backend, as its user
	// PreStartCreates is a file (a template, e.g. a TLS certificate the
	// hook makes): while it exists, PreStart is skipped, so a hook that
	// makes a key or certificate runs once, not at every start.
	PreStartCreates string
}

// LoadError is a problem in a catalog file. Line is 0 when the problem is not
// in one place of the file (unreadable file, missing directory entry).
type LoadError struct {
	File string // Service.Source of the file
	Line int    // 1-based
	Msg  string // one line, lower case
}

// Error returns "file:line: msg", or "file: msg" without a line.
func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Catalog is a set of services, by name.
type Catalog struct {
	services map[string]*Service
}

// Get returns the service of that name.
func (c *Catalog) Get(name string) (*Service, bool) {
	s, ok := c.services[name]
	return s, ok
}

// Names returns the names of all services, sorted.
func (c *Catalog) Names() []string {
	names := make([]string, 0, len(c.services))
	for n := range c.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load reads every *.yaml file at the root of builtin (the built-in catalog,
// may be nil) and of each dir (third-party catalogs, e.g. DefaultDir; a
// missing dir is not an error), in that order. A file with problems is
// skipped and its problems are returned as *LoadError values; the other
// files still load. A third-party file may not reuse a built-in service's
// name, nor a name an earlier file took. The catalog is never nil.
func Load(builtin fs.FS, dirs ...string) (*Catalog, []error) {
	c := &Catalog{services: map[string]*Service{}}
	var errs []error
	builtinNames := map[string]bool{}
	add := func(fsys fs.FS, source func(string) string, isBuiltin bool) {
		names, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			errs = append(errs, &LoadError{File: source("."), Msg: err.Error()})
			return
		}
		for _, name := range names {
			s, nameNode, ferrs := loadFile(fsys, name, source(name))
			if len(ferrs) > 0 {
				errs = append(errs, ferrs...)
				continue
			}
			if prev, ok := c.services[s.Name]; ok {
				msg := fmt.Sprintf("service %q is already defined in %s", s.Name, prev.Source)
				if builtinNames[s.Name] {
					msg = fmt.Sprintf("service %q is built in (%s); a catalog file may not redefine it", s.Name, prev.Source)
				}
				errs = append(errs, &LoadError{File: s.Source, Line: nameNode, Msg: msg})
				continue
			}
			c.services[s.Name] = s
			if isBuiltin {
				builtinNames[s.Name] = true
			}
		}
	}
	if builtin != nil {
		add(builtin, func(n string) string { return "builtin:" + n }, true)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		add(os.DirFS(dir), func(n string) string {
			if n == "." {
				return dir
			}
			return filepath.Join(dir, n)
		}, false)
	}
	return c, errs
}

// loadFile reads and decodes one service file. It returns the line of the
// name node for later errors.
func loadFile(fsys fs.FS, name, source string) (*Service, int, []error) {
	data, err := readCapped(fsys, name, MaxFileSize)
	if err != nil {
		return nil, 0, []error{&LoadError{File: source, Msg: err.Error()}}
	}
	d := &decoder{file: source, fsys: fsys, dir: path.Dir(name), base: strings.TrimSuffix(path.Base(name), ".yaml")}
	s := d.decodeFile(data)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b error) int {
			return a.(*LoadError).Line - b.(*LoadError).Line
		})
		if len(d.errs) > maxErrorsInFile {
			d.errs = append(d.errs[:maxErrorsInFile], &LoadError{File: source, Msg: "too many errors"})
		}
		return nil, 0, d.errs
	}
	s.Source = source
	return s, d.nameLine, nil
}

// readCapped reads a file of fsys, failing if it is larger than max bytes.
func readCapped(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read %s: %v", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}
