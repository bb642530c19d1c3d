package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

var (
	serviceNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	optionNameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	portNameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	// Debian policy 5.6.7: lower case letters, digits, + - . ; at least two
	// characters, starting with a letter or digit.
	debPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// Debian's adduser default NAME_REGEX, system users included.
	userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// decoder turns one file's YAML node tree into a Service, collecting every
// problem with its line.
type decoder struct {
	file     string // source, for errors
	fsys     fs.FS  // where the file and its neighbours are
	dir      string // the file's directory in fsys
	base     string // the file's name without .yaml
	errs     []error
	nameLine int

	templates []pendingTemplate
}

// pendingTemplate is a template checked once the options and ports are
// known.
type pendingTemplate struct {
	node    *yaml.Node
	what    string // e.g. "backend.command[2]"
	format  string // config file format, or "" for argv, env, uri
	text    string
	connect bool
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &LoadError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fields is a mapping node's keys, checked against the allowed ones.
type fields struct {
	node *yaml.Node
	vals map[string]*yaml.Node
}

// get returns the value of key, or nil if it is absent or null.
func (f *fields) get(key string) *yaml.Node {
	if f == nil {
		return nil
	}
	v := f.vals[key]
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil
	}
	return v
}

// mapping checks that n is a mapping whose keys are all allowed and unique.
// It returns nil (after reporting) if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, what string, allowed ...string) *fields {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping", what)
		return nil
	}
	f := &fields{node: n, vals: map[string]*yaml.Node{}}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain strings", what)
			continue
		}
		if l, dup := first[k.Value]; dup {
			d.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, l)
			continue
		}
		first[k.Value] = k.Line
		if !slicesContains(allowed, k.Value) {
			d.errorf(k, "%s: unknown key %q", what, k.Value)
			continue
		}
		f.vals[k.Value] = v
	}
	return f
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns n's value if n is a scalar.
func (d *decoder) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

// line returns a one-line text without control characters, of at most max
// bytes.
func (d *decoder) line(n *yaml.Node, what string, max int) string {
	s, ok := d.scalar(n, what)
	if !ok {
		return ""
	}
	if strings.ContainsAny(s, "\r\n") {
		d.errorf(n, "%s must be a single line", what)
		return ""
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		d.errorf(n, "%s contains a control character", what)
		return ""
	}
	if len(s) > max {
		d.errorf(n, "%s is longer than %d bytes", what, max)
		return ""
	}
	return s
}

// required reports a missing key of f.
func (d *decoder) required(f *fields, key, what string) *yaml.Node {
	v := f.get(key)
	if v == nil {
		d.errorf(f.node, "%s: missing %s", what, key)
	}
	return v
}

func (d *decoder) integer(n *yaml.Node, what string) (int, bool) {
	s, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		d.errorf(n, "%s: %q is not an integer", what, s)
		return 0, false
	}
	return i, true
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	s, ok := d.scalar(n, what)
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	d.errorf(n, "%s: %q is not true or false", what, s)
	return false
}

// sequence returns n's items if n is a sequence.
func (d *decoder) sequence(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list", what)
		return nil
	}
	return n.Content
}

// argv decodes a command: a non-empty list of arguments, each a template.
func (d *decoder) argv(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode {
		d.errorf(n, "%s must be a list of arguments (argv), not a shell string", what)
		return nil
	}
	items := d.sequence(n, what)
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		d.errorf(n, "%s is empty", what)
		return nil
	}
	var out []string
	for i, it := range items {
		w := fmt.Sprintf("%s[%d]", what, i)
		s := d.line(it, w, 4096)
		if i == 0 && it.Kind == yaml.ScalarNode && it.Value == "" {
			d.errorf(it, "%s: empty program name", w)
		}
		d.templates = append(d.templates, pendingTemplate{node: it, what: w, text: s})
		out = append(out, s)
	}
	return out
}

// port decodes a local port: an integer 1024-65535, or "auto" (0).
func (d *decoder) port(n *yaml.Node, what string) int {
	if s, ok := d.scalar(n, what); ok && s == "auto" {
		return 0
	}
	p, ok := d.integer(n, what)
	if !ok {
		return 0
	}
	if p < 1 || p > 65535 {
		d.errorf(n, "%s: port %d out of range 1-65535", what, p)
	} else if p < 1024 {
		d.errorf(n, "%s: port %d needs root; use 1024-65535 or auto", what, p)
	}
	return p
}

// localPath checks a path relative to a service directory: not absolute,
// no "..", in clean form.
func (d *decoder) localPath(n *yaml.Node, what string, allowDot bool) string {
	if n.Kind == yaml.ScalarNode && n.Value == "" {
		d.errorf(n, "%s is empty", what)
		return ""
	}
	p := d.line(n, what, 1024)
	if p == "" {
		return ""
	}
	switch {
	case strings.HasPrefix(p, "/"):
		d.errorf(n, "%s: %q must be relative, not absolute", what, p)
	case !filepath.IsLocal(p) || slicesContains(strings.Split(p, "/"), ".."):
		d.errorf(n, "%s: %q leaves its directory", what, p)
	case path.Clean(p) != p || strings.Contains(p, "\\"):
		d.errorf(n, "%s: %q is not a clean path (try %q)", what, p, path.Clean(p))
	case p == "." && !allowDot:
		d.errorf(n, "%s: %q names the directory itself", what, p)
	default:
		return p
	}
	return ""
}

// neighbour reads a file next to the YAML file: a bare name, capped.
func (d *decoder) neighbour(n *yaml.Node, what, name string, max int64) []byte {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		d.errorf(n, "%s: %q must be a file name next to the catalog file", what, name)
		return nil
	}
	data, err := readCapped(d.fsys, path.Join(d.dir, name), max)
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return nil
	}
	return data
}

// decodeFile decodes a whole service file.
func (d *decoder) decodeFile(data []byte) *Service {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &LoadError{File: d.file, Msg: "empty file"})
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "more than one YAML document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errorf(&doc, "not a YAML document")
		return nil
	}
	if d.noAliases(doc.Content[0]) {
		return nil
	}
	s := d.service(doc.Content[0])
	if len(d.errs) == 0 {
		d.checkTemplates(s)
	}
	return s
}

// yamlLineRE finds the line in yaml.v3's syntax errors, "yaml: line 3: ...".
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) syntaxError(err error) {
	msg := firstLine(err.Error())
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs = append(d.errs, &LoadError{File: d.file, Line: line, Msg: "yaml: " + msg})
}

// noAliases reports aliases (and merge keys, which need them): the format
// has no use for them and they make line numbers lie.
func (d *decoder) noAliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, "aliases (*%s) are not allowed", n.Value)
		return true
	}
	found := false
	for _, c := range n.Content {
		if d.noAliases(c) {
			found = true
		}
	}
	return found
}

var serviceKeys = []string{
	"name", "title", "description", "documentation", "icon", "packages",
	"backend", "local_port", "extra_ports", "onion_ports", "persist", "max_streams",
	"options", "content", "usable_when", "config_files", "health", "probe", "connect", "hooks",
}

func (d *decoder) service(n *yaml.Node) *Service {
	f := d.mapping(n, "service", serviceKeys...)
	if f == nil {
		return nil
	}
	s := &Service{}
	if v := d.required(f, "name", "service"); v != nil {
		d.nameLine = v.Line
		s.Name = d.line(v, "name", 64)
		if s.Name != "" && !serviceNameRE.MatchString(s.Name) {
			d.errorf(v, "name %q must match ^[a-z][a-z0-9-]{0,31}$", s.Name)
		} else if s.Name != "" && s.Name != d.base {
			d.errorf(v, "name %q differs from the file name %s.yaml", s.Name, d.base)
		}
	}
	if v := d.required(f, "title", "service"); v != nil {
		s.Title = d.line(v, "title", 80)
	}
	if v := d.required(f, "description", "service"); v != nil {
		s.Description = d.line(v, "description", 400)
	}
	if v := f.get("documentation"); v != nil {
		s.Documentation = d.line(v, "documentation", 2048)
		if u, err := url.Parse(s.Documentation); s.Documentation != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			d.errorf(v, "documentation: %q is not an http(s) URL", s.Documentation)
		}
	}
	if v := f.get("icon"); v != nil {
		s.Icon = d.line(v, "icon", 255)
		if s.Icon != "" {
			if !strings.HasSuffix(s.Icon, ".svg") {
				d.errorf(v, "icon: %q is not an .svg file", s.Icon)
			} else if data := d.neighbour(v, "icon", s.Icon, MaxIconSize); data != nil {
				if !bytes.Contains(data, []byte("<svg")) {
					d.errorf(v, "icon: %s is not an SVG image", s.Icon)
				}
				s.icon = data
			}
		}
	}
	if v := f.get("packages"); v != nil {
		seen := map[string]bool{}
		for i, it := range d.sequence(v, "packages") {
			p := d.line(it, fmt.Sprintf("packages[%d]", i), 128)
			switch {
			case !debPackageRE.MatchString(p):
				d.errorf(it, "packages: %q is not a Debian package name", p)
			case seen[p]:
				d.errorf(it, "packages: %q is listed twice", p)
			}
			seen[p] = true
			s.Packages = append(s.Packages, p)
		}
	}
	if v := d.required(f, "backend", "service"); v != nil {
		s.Backend = d.backend(v)
	}
	if v := f.get("local_port"); v != nil {
		s.LocalPort = d.port(v, "local_port")
		if s.Backend.Builtin != "" && s.LocalPort != 0 {
			d.errorf(v, "local_port: a builtin backend takes a port the daemon picks; use auto")
		}
	}
	if v := f.get("max_streams"); v != nil {
		if n, ok := d.integer(v, "max_streams"); ok && (n < 1 || n > MaxMaxStreams) {
			d.errorf(v, "max_streams: %d out of range 1-%d", n, MaxMaxStreams)
		} else {
			s.MaxStreams = n
		}
	}
	if v := f.get("extra_ports"); v != nil {
		s.ExtraPorts = d.extraPorts(v)
	}
	if v := d.required(f, "onion_ports", "service"); v != nil {
		s.OnionPorts = d.onionPorts(v, s)
	}
	if v := f.get("persist"); v != nil {
		seen := map[string]bool{}
		for i, it := range d.sequence(v, "persist") {
			p := d.localPath(it, fmt.Sprintf("persist[%d]", i), true)
			if p != "" && seen[p] {
				d.errorf(it, "persist: %q is listed twice", p)
			}
			seen[p] = true
			s.Persist = append(s.Persist, p)
		}
	}
	if v := f.get("options"); v != nil {
		seen := map[string]int{}
		for i, it := range d.sequence(v, "options") {
			o, nameNode := d.option(it, i)
			if o == nil {
				continue
			}
			if l, dup := seen[o.Name]; dup {
				d.errorf(nameNode, "option %q is declared twice (first at line %d)", o.Name, l)
				continue
			}
			seen[o.Name] = nameNode.Line
			s.Options = append(s.Options, *o)
		}
	}
	if v := f.get("content"); v != nil {
		s.Content = d.content(v, s)
	}
	if v := f.get("usable_when"); v != nil {
		s.UsableWhen = d.usableWhen(v, s)
	}
	if v := f.get("config_files"); v != nil {
		seen := map[string]int{}
		for i, it := range d.sequence(v, "config_files") {
			cf, pathNode := d.configFile(it, i)
			if cf == nil {
				continue
			}
			if l, dup := seen[cf.Path]; dup {
				d.errorf(pathNode, "config file %q is declared twice (first at line %d)", cf.Path, l)
				continue
			}
			seen[cf.Path] = pathNode.Line
			s.ConfigFiles = append(s.ConfigFiles, *cf)
		}
	}
	s.Health = Health{TCP: true, Timeout: DefaultHealthTimeout}
	if v := f.get("health"); v != nil {
		s.Health = d.health(v)
	}
	if v := f.get("probe"); v != nil {
		s.Probe = d.probe(v, s)
	}
	if v := f.get("connect"); v != nil {
		s.Connect = d.connect(v)
	}
	if v := f.get("hooks"); v != nil {
		if hf := d.mapping(v, "hooks", "pre_start", "pre_start_creates", "post_install"); hf != nil {
			if h := hf.get("pre_start"); h != nil {
				s.Hooks.PreStart = d.argv(h, "hooks.pre_start")
			}
			if h := hf.get("pre_start_creates"); h != nil {
				s.Hooks.PreStartCreates = d.hookCreates(h, hf.get("pre_start"))
			}
			if h := hf.get("post_install"); h != nil {
				s.Hooks.PostInstall = d.argv(h, "hooks.post_install")
			}
		}
	}
	return s
}

func (d *decoder) backend(n *yaml.Node) Backend {
	var b Backend
	f := d.mapping(n, "backend", "builtin", "command", "user", "create_user", "privileged", "env", "workdir")
	if f == nil {
		return b
	}
	builtin, command := f.get("builtin"), f.get("command")
	switch {
	case builtin != nil && command != nil:
		d.errorf(n, "backend: set builtin or command, not both")
		return b
	case builtin == nil && command == nil:
		d.errorf(n, "backend: missing builtin or command")
		return b
	case builtin != nil:
		b.Builtin = d.line(builtin, "backend.builtin", 64)
		if b.Builtin != BuiltinWeb && b.Builtin != BuiltinFileshare {
			d.errorf(builtin, "backend.builtin: unknown builtin backend %q (want web or fileshare)", b.Builtin)
		}
		for _, k := range []string{"user", "create_user", "privileged", "env", "workdir"} {
			if v := f.get(k); v != nil {
				d.errorf(v, "backend.%s applies only to a command backend", k)
			}
		}
		return b
	}
	b.Command = d.argv(command, "backend.command")
	if v := d.required(f, "user", "backend"); v != nil {
		b.User = d.line(v, "backend.user", 32)
		switch {
		case b.User == "root" || b.User == "0":
			d.errorf(v, "backend.user: a backend never runs as root")
		case !userNameRE.MatchString(b.User):
			d.errorf(v, "backend.user: %q is not a valid user name", b.User)
		}
	}
	if v := f.get("create_user"); v != nil {
		b.CreateUser = d.boolean(v, "backend.create_user")
	}
	if v := f.get("privileged"); v != nil {
		b.Privileged = d.boolean(v, "backend.privileged")
		if b.Privileged && !b.CreateUser {
			d.errorf(v, "backend.privileged: allowed only with create_user: true (the program drops to a user of the service's own)")
		}
	}
	if v := f.get("env"); v != nil {
		if ef := d.mapping(v, "backend.env", d.keysOf(v)...); ef != nil {
			b.Env = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				if !envNameRE.MatchString(k.Value) {
					d.errorf(k, "backend.env: %q is not an environment variable name", k.Value)
					continue
				}
				w := "backend.env." + k.Value
				s := d.line(val, w, 4096)
				d.templates = append(d.templates, pendingTemplate{node: val, what: w, text: s})
				b.Env[k.Value] = s
			}
		}
	}
	if v := f.get("workdir"); v != nil {
		b.Workdir = d.line(v, "backend.workdir", 1024)
		d.templates = append(d.templates, pendingTemplate{node: v, what: "backend.workdir", text: b.Workdir})
	}
	return b
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// keysOf returns the keys of a mapping, for maps whose keys are free.
func (d *decoder) keysOf(n *yaml.Node) []string {
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

func (d *decoder) extraPorts(n *yaml.Node) []NamedPort {
	if d.mapping(n, "extra_ports", d.keysOf(n)...) == nil {
		return nil
	}
	var out []NamedPort
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !portNameRE.MatchString(k.Value) || k.Value == LocalPortName {
			d.errorf(k, "extra_ports: %q must match ^[a-z][a-z0-9-]*$ and not be %q", k.Value, LocalPortName)
			continue
		}
		out = append(out, NamedPort{Name: k.Value, Port: d.port(v, "extra_ports."+k.Value)})
	}
	return out
}

func (d *decoder) onionPorts(n *yaml.Node, s *Service) []OnionPort {
	items := d.sequence(n, "onion_ports")
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		d.errorf(n, "onion_ports is empty")
	}
	var out []OnionPort
	seen := map[int]int{}
	for i, it := range items {
		what := fmt.Sprintf("onion_ports[%d]", i)
		f := d.mapping(it, what, "virtual", "target")
		if f == nil {
			continue
		}
		var op OnionPort
		if v := d.required(f, "virtual", what); v != nil {
			op.Virtual, _ = d.integer(v, what+".virtual")
			if op.Virtual < 1 || op.Virtual > 65535 {
				d.errorf(v, "%s.virtual: port %d out of range 1-65535", what, op.Virtual)
			} else if l, dup := seen[op.Virtual]; dup {
				d.errorf(v, "%s.virtual: port %d is already published (line %d)", what, op.Virtual, l)
			}
			seen[op.Virtual] = v.Line
		}
		op.Target = LocalPortName
		if v := f.get("target"); v != nil {
			op.Target = d.line(v, what+".target", 64)
			known := op.Target == LocalPortName
			for _, p := range s.ExtraPorts {
				known = known || p.Name == op.Target
			}
			if !known {
				d.errorf(v, "%s.target: no local port named %q (want %q or one of extra_ports)", what, op.Target, LocalPortName)
			}
		}
		out = append(out, op)
	}
	return out
}

var optionKeys = []string{
	"name", "title", "description", "type", "default", "min", "max",
	"pattern", "pattern_help", "choices", "generate", "show_in_status",
}

var optionTypes = []string{TypeBool, TypeInt, TypePort, TypeString, TypeText, TypeEnum, TypeSecret, TypeDuration, TypeTime}

// option decodes one option; it returns nil if the option is unusable.
func (d *decoder) option(n *yaml.Node, i int) (*Option, *yaml.Node) {
	what := fmt.Sprintf("options[%d]", i)
	f := d.mapping(n, what, optionKeys...)
	if f == nil {
		return nil, nil
	}
	nerr := len(d.errs)
	o := &Option{}
	nameNode := d.required(f, "name", what)
	if nameNode != nil {
		o.Name = d.line(nameNode, what+".name", 64)
		switch {
		case isCommonOption(o.Name):
			d.errorf(nameNode, "option %q is common to every service and cannot be declared", o.Name)
		case !optionNameRE.MatchString(o.Name):
			d.errorf(nameNode, "option %q: name must match ^[a-z][a-z0-9-]*$ (at most 32 characters)", o.Name)
		default:
			what = fmt.Sprintf("option %q", o.Name)
		}
	}
	if v := d.required(f, "title", what); v != nil {
		o.Title = d.line(v, what+": title", 80)
	}
	if v := f.get("description"); v != nil {
		o.Description = d.line(v, what+": description", 400)
	}
	typeNode := d.required(f, "type", what)
	if typeNode != nil {
		o.Type = d.line(typeNode, what+": type", 16)
		if !slicesContains(optionTypes, o.Type) {
			d.errorf(typeNode, "%s: unknown type %q (want %s)", what, o.Type, strings.Join(optionTypes, ", "))
		}
		if want, ok := timerOptionTypes[o.Name]; ok && o.Type != want {
			d.errorf(typeNode, "%s: a timer option must have type %s", what, want)
		}
	}
	if v := f.get("show_in_status"); v != nil {
		o.ShowInStatus = d.boolean(v, what+": show_in_status")
	}
	if len(d.errs) > nerr {
		return nil, nil
	}
	isInt := o.Type == TypeInt || o.Type == TypePort
	only := func(key string, ok bool, types string) *yaml.Node {
		v := f.get(key)
		if v != nil && !ok {
			d.errorf(v, "%s: %s applies only to %s options", what, key, types)
			return nil
		}
		return v
	}
	if v := only("min", isInt, "int and port"); v != nil {
		if x, ok := d.integer(v, what+": min"); ok {
			o.Min = &x
		}
	}
	if v := only("max", isInt, "int and port"); v != nil {
		if x, ok := d.integer(v, what+": max"); ok {
			o.Max = &x
		}
		if o.Min != nil && o.Max != nil && *o.Min > *o.Max {
			d.errorf(v, "%s: max %d is below min %d", what, *o.Max, *o.Min)
		}
	}
	if v := only("pattern", o.Type == TypeString || o.Type == TypeSecret || o.Type == TypeText, "string, secret and text"); v != nil {
		o.Pattern = d.line(v, what+": pattern", 1024)
		if re, err := o.regexp(); err != nil {
			d.errorf(v, "%s: %v", what, err)
		} else {
			o.re = re
		}
	}
	d.patternHelp(f, o, what)
	if v := only("choices", o.Type == TypeEnum, "enum"); v != nil {
		seen := map[string]bool{}
		for j, it := range d.sequence(v, what+": choices") {
			c := d.line(it, fmt.Sprintf("%s: choices[%d]", what, j), 256)
			if c == "" || seen[c] {
				d.errorf(it, "%s: choice %q is empty or listed twice", what, c)
			}
			seen[c] = true
			o.Choices = append(o.Choices, c)
		}
	}
	if o.Type == TypeEnum && len(o.Choices) == 0 && f.get("choices") == nil {
		d.errorf(f.node, "%s: an enum needs choices", what)
	}
	if v := only("generate", o.Type == TypeSecret, "secret"); v != nil {
		o.Generate = d.generate(v, what)
	}
	if len(d.errs) > nerr {
		return nil, nil
	}
	d.optionDefault(o, f, what)
	return o, nameNode
}

func (d *decoder) generate(n *yaml.Node, what string) *Generate {
	f := d.mapping(n, what+": generate", "length", "charset")
	if f == nil {
		return nil
	}
	g := &Generate{Length: DefaultSecretLength, Charset: DefaultSecretCharset}
	if v := f.get("length"); v != nil {
		if l, ok := d.integer(v, what+": generate.length"); ok {
			g.Length = l
			if l < MinSecretLength || l > MaxSecretLength {
				d.errorf(v, "%s: generate.length %d out of range %d-%d", what, l, MinSecretLength, MaxSecretLength)
			}
		}
	}
	if v := f.get("charset"); v != nil {
		g.Charset = d.line(v, what+": generate.charset", 32)
		if _, ok := charsets[g.Charset]; !ok {
			d.errorf(v, "%s: unknown charset %q (want alnum, alpha, digits, hex or urlsafe)", what, g.Charset)
		}
	}
	return g
}

// optionDefault sets o.Default from the file, or to the type's implicit
// default, and checks it against the option's own rules.
func (d *decoder) optionDefault(o *Option, f *fields, what string) {
	v := f.get("default")
	if o.Type == TypeSecret {
		if v != nil {
			d.errorf(v, "%s: a secret has no default; use generate or let the user set it", what)
			return
		}
		if o.Generate != nil {
			// A pattern that generated values cannot match is a mistake.
			if s, err := o.GenerateSecret(); err == nil {
				if _, err := o.Validate(s); err != nil {
					d.errorf(f.node, "%s: generated values do not match the pattern", what)
				}
			}
		}
		return
	}
	if o.Type == TypeTime && v != nil {
		d.errorf(v, "%s: a time has no default (a fixed time would soon be past)", what)
		return
	}
	var raw string
	node := f.node
	if v != nil {
		node = v
		s, ok := d.scalar(v, what+": default")
		if !ok {
			return
		}
		raw = s
	} else {
		switch o.Type {
		case TypeBool:
			raw = "false"
		case TypeInt, TypePort:
			d.errorf(f.node, "%s: missing default", what)
			return
		case TypeEnum:
			raw = o.Choices[0]
		}
	}
	norm, err := o.Validate(raw)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("option %q: ", o.Name))
		d.errorf(node, "%s: bad default: %s", what, msg)
		return
	}
	switch o.Type {
	case TypeBool:
		o.Default = norm == "true"
	case TypeInt, TypePort:
		o.Default, _ = strconv.Atoi(norm)
	default:
		o.Default = norm
	}
}

func (d *decoder) configFile(n *yaml.Node, i int) (*ConfigFile, *yaml.Node) {
	what := fmt.Sprintf("config_files[%d]", i)
	f := d.mapping(n, what, "path", "format", "template", "template_file", "mode")
	if f == nil {
		return nil, nil
	}
	nerr := len(d.errs)
	cf := &ConfigFile{Mode: 0o640}
	pathNode := d.required(f, "path", what)
	if pathNode != nil {
		cf.Path = d.localPath(pathNode, what+".path", false)
	}
	if v := d.required(f, "format", what); v != nil {
		cf.Format = d.line(v, what+".format", 16)
		if !slicesContains(formats, cf.Format) {
			d.errorf(v, "%s.format: unknown format %q (want %s)", what, cf.Format, strings.Join(formats, ", "))
		}
	}
	tpl, tplFile := f.get("template"), f.get("template_file")
	var tplNode *yaml.Node
	switch {
	case tpl != nil && tplFile != nil:
		d.errorf(tplFile, "%s: set template or template_file, not both", what)
	case tpl == nil && tplFile == nil:
		d.errorf(n, "%s: missing template or template_file", what)
	case tpl != nil:
		tplNode = tpl
		if s, ok := d.scalar(tpl, what+".template"); ok {
			cf.Template = s
		}
	default:
		tplNode = tplFile
		cf.TemplateFile = d.line(tplFile, what+".template_file", 255)
		if strings.HasSuffix(cf.TemplateFile, ".yaml") {
			d.errorf(tplFile, "%s.template_file: %q would be read as a service file; name it .tmpl", what, cf.TemplateFile)
		} else if data := d.neighbour(tplFile, what+".template_file", cf.TemplateFile, MaxFileSize); data != nil {
			cf.Template = string(data)
		}
	}
	if v := f.get("mode"); v != nil {
		s, _ := d.scalar(v, what+".mode")
		m, err := strconv.ParseUint(s, 8, 32)
		switch {
		case err != nil || len(s) < 3 || len(s) > 4 || m > 0o777:
			d.errorf(v, "%s.mode: %q is not an octal mode like \"0640\"", what, s)
		case m&0o002 != 0:
			d.errorf(v, "%s.mode: %q makes the file world-writable", what, s)
		default:
			cf.Mode = fs.FileMode(m)
		}
	}
	if len(d.errs) > nerr {
		return nil, nil
	}
	d.templates = append(d.templates, pendingTemplate{node: tplNode, what: what + " (" + cf.Path + ")", format: cf.Format, text: cf.Template})
	return cf, pathNode
}

func (d *decoder) health(n *yaml.Node) Health {
	h := Health{Timeout: DefaultHealthTimeout}
	f := d.mapping(n, "health", "tcp", "http", "command", "timeout")
	if f == nil {
		return h
	}
	set := 0
	if v := f.get("tcp"); v != nil {
		h.TCP = d.boolean(v, "health.tcp")
		if !h.TCP {
			d.errorf(v, "health.tcp: only true makes sense; remove it")
		}
		set++
	}
	if v := f.get("http"); v != nil {
		set++
		if hf := d.mapping(v, "health.http", "path", "expect_status"); hf != nil {
			h.HTTP = &HTTPCheck{Path: "/"}
			if p := hf.get("path"); p != nil {
				h.HTTP.Path = d.line(p, "health.http.path", 1024)
				if !strings.HasPrefix(h.HTTP.Path, "/") {
					d.errorf(p, "health.http.path: %q must start with /", h.HTTP.Path)
				}
			}
			if st := hf.get("expect_status"); st != nil {
				h.HTTP.ExpectStatus, _ = d.integer(st, "health.http.expect_status")
				if h.HTTP.ExpectStatus < 100 || h.HTTP.ExpectStatus > 599 {
					d.errorf(st, "health.http.expect_status: %d is not an HTTP status", h.HTTP.ExpectStatus)
				}
			}
		}
	}
	if v := f.get("command"); v != nil {
		set++
		h.Command = d.argv(v, "health.command")
	}
	if set != 1 {
		d.errorf(n, "health: set exactly one of tcp, http and command")
	}
	if v := f.get("timeout"); v != nil {
		s, _ := d.scalar(v, "health.timeout")
		t, err := time.ParseDuration(s)
		if err != nil || t <= 0 || t > 5*time.Minute {
			d.errorf(v, "health.timeout: %q is not a duration between 0 and 5m, like \"10s\"", s)
		}
		h.Timeout = t
	}
	return h
}

func (d *decoder) connect(n *yaml.Node) Connect {
	var c Connect
	f := d.mapping(n, "connect", "uri", "instructions", "details")
	if f == nil {
		return c
	}
	if v := f.get("uri"); v != nil {
		c.URI = d.line(v, "connect.uri", 1024)
		d.templates = append(d.templates, pendingTemplate{node: v, what: "connect.uri", text: c.URI, connect: true})
	}
	if v := f.get("instructions"); v != nil {
		for i, it := range d.sequence(v, "connect.instructions") {
			what := fmt.Sprintf("connect.instructions[%d]", i)
			inf := d.mapping(it, what, "client", "text")
			if inf == nil {
				continue
			}
			var in Instruction
			if cv := d.required(inf, "client", what); cv != nil {
				in.Client = d.line(cv, what+".client", 80)
			}
			if tv := d.required(inf, "text", what); tv != nil {
				in.Text = d.line(tv, what+".text", 1000)
				d.templates = append(d.templates, pendingTemplate{node: tv, what: what + ".text", text: in.Text, connect: true})
			}
			c.Instructions = append(c.Instructions, in)
		}
	}
	if v := f.get("details"); v != nil {
		labels := map[string]bool{}
		for i, it := range d.sequence(v, "connect.details") {
			what := fmt.Sprintf("connect.details[%d]", i)
			df := d.mapping(it, what, "label", "value", "file", "secret")
			if df == nil {
				continue
			}
			var det Detail
			if lv := d.required(df, "label", what); lv != nil {
				det.Label = d.line(lv, what+".label", 80)
				if labels[det.Label] {
					d.errorf(lv, "%s.label: %q is used twice", what, det.Label)
				}
				labels[det.Label] = true
			}
			vv, fv := df.get("value"), df.get("file")
			switch {
			case (vv == nil) == (fv == nil):
				d.errorf(it, "%s: set exactly one of value and file", what)
			case vv != nil:
				det.Value = d.line(vv, what+".value", 1024)
				d.templates = append(d.templates, pendingTemplate{node: vv, what: what + ".value", text: det.Value, connect: true})
			default:
				det.File = d.line(fv, what+".file", 1024)
				d.templates = append(d.templates, pendingTemplate{node: fv, what: what + ".file", text: det.File, connect: true})
			}
			if sv := df.get("secret"); sv != nil {
				det.Secret = d.boolean(sv, what+".secret")
			}
			c.Details = append(c.Details, det)
		}
	}
	return c
}
