package catalog

import (
	"strconv"

	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"

	"tails-server/internal/render"
)

// Templates in catalog files are Go text/template sources. Besides the
// built-in functions they may call:
//
//	config            the service's config directory (absolute)
//	data              the service's data directory (absolute)
//	listen            the address the backend listens on, e.g. 127.0.0.1
//	address           the onion host name, e.g. "abc...xyz.onion"
//	port              the local port; port "NAME" an extra port
//	option "NAME"     an option's value, as a string (common options too)
//	split TEXT SEP    TEXT cut at each SEP, empty parts left out
//
// The connect section's templates (URI, instructions, details) also have
// the fields .address (onion host name) and .port (the first onion port's
// virtual port).
//
// At load, each template is parsed and executed once with stand-in values
// so that syntax errors, unknown functions, unknown options and unknown port
// names are caught before the service is ever enabled.

// checkFuncs returns the template functions with stand-in values for s.
func checkFuncs(s *Service) template.FuncMap {
	return template.FuncMap{
		"config":  func() string { return "/config" },
		"data":    func() string { return "/data" },
		"listen":  func() string { return "127.0.0.1" },
		"address": func() string { return strings.Repeat("a", 56) + ".onion" },
		"port": func(name ...string) (int, error) {
			if len(name) == 0 || name[0] == LocalPortName {
				return 8080, nil
			}
			if len(name) > 1 {
				return 0, fmt.Errorf("port takes at most one port name")
			}
			for _, p := range s.ExtraPorts {
				if p.Name == name[0] {
					return 8081, nil
				}
			}
			return 0, fmt.Errorf("no local port named %q", name[0])
		},
		"option": func(name string) (string, error) {
			for _, o := range append(CommonOptions(), s.Options...) {
				if o.Name == name {
					if o.Default == nil {
						return "secret", nil
					}
					return fmt.Sprint(o.Default), nil
				}
			}
			return "", fmt.Errorf("no option %q", name)
		},
		"split": split,
	}
}

// split cuts text at each sep, leaving out empty parts: "a,,b" is [a b].
func split(text, sep string) []string {
	var out []string
	for _, p := range strings.Split(text, sep) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkTemplates parses and dry-runs every template of s.
func (d *decoder) checkTemplates(s *Service) {
	funcs := checkFuncs(s)
	for _, p := range d.templates {
		var data any
		if p.connect {
			data = map[string]any{"address": strings.Repeat("a", 56) + ".onion", "port": 80}
		}
		if err := checkTemplate(s, p.what, p.format, p.text, funcs, data); err != nil {
			d.errorf(p.node, "%s: %s", p.what, err)
		}
	}
}

// checkTemplate parses text as a template and executes it once with
// stand-in values.
//
// A config file template (format != "") is checked exactly as it will be
// rendered: by internal/render, whose per-format escapers every printed
// value must pass through, with the data of ConfigData (stand-in values
// at load). Other templates (argv, env, workdir, hooks, the connect URI)
// are plain text/template with the catalog functions: their results are
// single argv elements or values, never parsed as a file.
func checkTemplate(s *Service, what, format, text string, funcs template.FuncMap, data any) error {
	if format != "" {
		f, err := render.ParseFormat(format)
		if err != nil {
			return err
		}
		t, err := render.Parse("template", f, text)
		if err != nil {
			return fmt.Errorf("bad template: %s", cleanTemplateErr(err))
		}
		if _, err := t.Render(ConfigData(s, nil, standIn)); err != nil {
			return fmt.Errorf("bad template: %s", cleanTemplateErr(err))
		}
		return nil
	}
	t, err := template.New("template").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return fmt.Errorf("bad template: %s", cleanTemplateErr(err))
	}
	if err := t.Execute(io.Discard, data); err != nil {
		return fmt.Errorf("bad template: %s", cleanTemplateErr(err))
	}
	return nil
}

// Env is what the daemon knows of a service when it renders its files.
type Env struct {
	Config  string         // config directory
	Data    string         // data directory
	Listen  string         // listen address, 127.0.0.1 unless allow-lan
	Address string         // onion host name, with ".onion"
	Port    int            // the local port
	Ports   map[string]int // the extra ports, by name
	// UID and GID are the user and group the backend runs as (for a
	// server that would otherwise try to switch to another user).
	UID, GID int
}

var standIn = Env{Config: "/config", Data: "/data", Listen: "127.0.0.1",
	Address: strings.Repeat("a", 56) + ".onion", Port: 8080, UID: 65534, GID: 65534}

// ConfigData is the data a config file template gets:
//
//	.config .data .listen .address   strings
//	.port                            the local port (int)
//	.uid .gid                        the backend's user and group ids (int)
//	.ports.NAME                      an extra port (int)
//	.option.NAME                     an option's value: bool for bool
//	                                 options, int for int and port, else
//	                                 string; '-' in NAME becomes '_'
//
// values holds the options the user set; the others have their defaults
// (a secret without a value gets a stand-in).
func ConfigData(s *Service, values map[string]string, env Env) map[string]any {
	opts := map[string]any{}
	for _, o := range append(CommonOptions(), s.Options...) {
		v, ok := values[o.Name]
		if !ok {
			if o.Default != nil {
				v = fmt.Sprint(o.Default)
			} else {
				v = "secret"
			}
		}
		key := strings.ReplaceAll(o.Name, "-", "_")
		switch o.Type {
		case TypeBool:
			opts[key] = v == "true"
		case TypeInt, TypePort:
			n, err := strconv.Atoi(v)
			if err != nil {
				opts[key] = v // refused by the int escaper, naming the key
			} else {
				opts[key] = n
			}
		default:
			opts[key] = v
		}
	}
	ports := map[string]any{}
	for _, p := range s.ExtraPorts {
		if n, ok := env.Ports[p.Name]; ok {
			ports[strings.ReplaceAll(p.Name, "-", "_")] = n
		} else {
			ports[strings.ReplaceAll(p.Name, "-", "_")] = 8081
		}
	}
	return map[string]any{
		"config": env.Config, "data": env.Data, "listen": env.Listen,
		"address": env.Address, "port": env.Port, "ports": ports, "option": opts,
		"uid": env.UID, "gid": env.GID,
	}
}

// cleanTemplateErr turns text/template's "template: NAME:LINE: ..." into
// "template line LINE: ...", on one line.
func cleanTemplateErr(err error) string {
	msg := firstLine(err.Error())
	msg = strings.TrimPrefix(msg, "template: ")
	return templatePosRE.ReplaceAllString(msg, "template line $1")
}

// templatePosRE matches the positions text/template puts in its errors,
// "template:LINE" or "template:LINE:COL".
var templatePosRE = regexp.MustCompile(`\btemplate:(\d+)(?::\d+)?`)

// Funcs returns the functions of command templates with real values.
func Funcs(s *Service, values map[string]string, env Env) template.FuncMap {
	return template.FuncMap{
		"config":  func() string { return env.Config },
		"data":    func() string { return env.Data },
		"listen":  func() string { return env.Listen },
		"address": func() string { return env.Address },
		"port": func(name ...string) (int, error) {
			if len(name) == 0 || name[0] == LocalPortName {
				return env.Port, nil
			}
			if p, ok := env.Ports[name[0]]; ok && len(name) == 1 {
				return p, nil
			}
			return 0, fmt.Errorf("no local port named %q", name[0])
		},
		"option": func(name string) (string, error) {
			if v, ok := values[name]; ok {
				return v, nil
			}
			for _, o := range append(CommonOptions(), s.Options...) {
				if o.Name == name && o.Default != nil {
					return fmt.Sprint(o.Default), nil
				}
			}
			return "", fmt.Errorf("no value for option %q", name)
		},
		"split": split,
	}
}

// Expand runs one command template (an argv element, an env value, the
// workdir, the connect URI) with real values. data is the template's dot
// (the connect URI's .address and .port), or nil.
func Expand(s *Service, text string, values map[string]string, env Env, data any) (string, error) {
	t, err := template.New("template").Funcs(Funcs(s, values, env)).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: bad template: %s", s.Name, cleanTemplateErr(err))
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s: %s", s.Name, cleanTemplateErr(err))
	}
	return b.String(), nil
}

// RenderConfig renders one of the service's config files with real values.
func RenderConfig(s *Service, cf ConfigFile, values map[string]string, env Env) ([]byte, error) {
	f, err := render.ParseFormat(cf.Format)
	if err != nil {
		return nil, err
	}
	t, err := render.Parse(cf.Path, f, cf.Template)
	if err != nil {
		return nil, err
	}
	return t.Render(ConfigData(s, values, env))
}
