// Package render renders a hosted service's configuration files from
// templates so that no option value can inject a line, a directive or code
// into the file.
//
// Templates use text/template syntax. The template text comes from the
// service author and is trusted; the data (option values) comes from users
// and is not. A value reaches the output only through an escaping function
// of the file's [Format]:
//
//	password = {{quote .password}}
//	port = {{.port | int}}
//	{{range .admins}}admin = {{quote .}}
//	{{end}}
//
// [Parse] walks the parse tree and refuses any action that prints something
// without ending in an escaper: {{.password}}, {{printf "%s" .password}},
// {{html .password}} and {{quote .password | printf "%s"}} are all errors
// ("name:line: ..."). Actions that print nothing are free: {{if}},
// {{range}}, {{with}}, {{template}}, variable declarations and assignments.
// An action that prints a single literal ({{"{{"}}) is allowed, since the
// literal is template text. The parameters of an escaper (the words given to
// bool) must be string literals, so they too are template text.
//
// # Escapers
//
// Every format offers three escapers; there is no "raw". Besides them,
// every format has the helper split (split.go), whose result is a list to
// range over, never printed.
//
//   - quote: the value as a complete string literal of the format (see the
//     table below). It accepts strings, booleans and numbers (formatted
//     with strconv), and refuses anything else.
//   - int: a decimal integer. It accepts Go integer types and floats with
//     an integral value within ±2^53 (what JSON decoding yields); it refuses
//     strings, booleans and everything else.
//   - bool: true or false. With two string literal parameters it prints the
//     first for true and the second for false, e.g. {{bool .tls "yes" "no"}}
//     or {{.tls | bool "enable" "disable"}}. It accepts only booleans.
//
// INI and Conf also offer word: the value printed bare, for backends that do
// not understand quotes (ngircd). A word must be a non-empty run of ASCII
// letters, digits and . _ - : / @ +; anything else is refused.
//
// Rules common to every format: a string value must be valid UTF-8 and
// must not contain NUL; such values are refused. A nil (missing) value is
// refused by every escaper.
//
// Per format, quote produces:
//
//	format  literal       escapes                                  refused
//	ini     "..."         \\ \"                                    CR, LF, other C0/C1 controls, DEL, U+2028/9
//	conf    "..."         \"                                       \ , CR, LF, other C0/C1 controls, DEL, U+2028/9
//	yaml    "..."         \\ \" \n \r \t, \uXXXX for non-printable none
//	lua     "..."         \\ \" \' \n \r \t, \ddd other controls   none
//	xml     (no quotes)   &amp; &lt; &gt; &quot; &apos; &#9; &#10; &#13;  C0 controls other than TAB CR LF, U+FFFE, U+FFFF
//	shell   '...'         ' as '\''                                none
//	php     '...'         \\ \'                                    none
//
// INI strings follow Qt's QSettings (murmur.ini): inside double quotes
// ; # = , and [ are literal, and \\ and \" are the only escapes used. Conf
// strings follow lighttpd, whose tokenizer knows no escape but \"; a
// backslash is refused because "\\" would read back differently in
// lighttpd and in a C-style parser. XML's quote prints the escaped text
// without quotes, so it fits both element text and an attribute value
// written between either kind of quote (the author writes the quotes); it
// must not be used inside CDATA sections or comments. Shell's quote is one
// single-quoted word, where every byte but ' is literal, newlines included;
// it is meant for a word position (NAME={{quote .x}}), not inside "...".
// PHP's quote is a single-quoted string, where only \\ and \' are escapes
// and everything else (newlines, $, ?>) is literal; it is meant for an
// expression position ($conf['title'] = {{quote .x}};), not inside "..."
// or a heredoc.
// [Quote] applies a format's quote outside templates.
//
// # Errors
//
// Errors are one line: "name:line: ..." at Parse, and at Render an [*Error]
// naming the template, the line and the value's expression (its key, such
// as .password), never the value, which may be a secret.
//
// Only the standard library is used: text/template does the parsing and
// execution; this package restricts it.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Format is a config-file syntax: it decides how values are escaped.
type Format string

// The supported formats.
const (
	// INI is key = value lines, [sections], ; and # comments, as read by
	// Qt's QSettings (murmur.ini, mumble-server.ini).
	INI Format = "ini"
	// Conf is a key-value conf file: `key value` or `key = value` lines
	// and # comments, with lighttpd-style "double-quoted strings"
	// (ngircd.conf, lighttpd.conf).
	Conf Format = "conf"
	// YAML is a YAML document; values become double-quoted scalars.
	YAML Format = "yaml"
	// Lua is Lua source (prosody.cfg.lua); values become string literals.
	Lua Format = "lua"
	// XML is an XML document; values become escaped text.
	XML Format = "xml"
	// Shell is a file sourced by sh; values become single-quoted words.
	Shell Format = "shell"
	// PHP is PHP source (DokuWiki's local.php); values become
	// single-quoted string literals.
	PHP Format = "php"
)

var formats = []Format{INI, Conf, YAML, Lua, XML, Shell, PHP}

// ParseFormat returns the Format named s ("ini", "conf", "yaml", "lua",
// "xml", "shell" or "php").
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown template format %q (want one of %s)", s, strings.Join(names, ", "))
}

// Error is a refusal of one value at Render. Its message names the
// template, the line and the value's expression, never the value.
type Error struct {
	Template string // name given to Parse
	Line     int    // line of the action in the template, from 1
	Key      string // the value's expression, e.g. ".password"
	Reason   string // why the value was refused, e.g. "contains a NUL byte"
}

// Error returns "name:line: value of KEY REASON".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: value of %s %s", e.Template, e.Line, e.Key, e.Reason)
}

// Template is a parsed template for one format. It is safe for concurrent
// use by multiple goroutines once parsed.
type Template struct {
	name   string
	format Format
	tmpl   *template.Template
	sites  []site
}

// site is one call of an escaper in the template text.
type site struct {
	line   int
	key    string // expression text of the value
	piped  bool   // the value is the last argument (piped), not the first
	params int    // number of literal parameters
}

// escaper turns one value into text for a format, or refuses it with a
// reason (a phrase such as "contains a NUL byte").
type escaper func(v any, params []string) (string, string)

// Parse parses text as a template for format. name is used in errors. It
// refuses, with "name:line: ..." errors, templates that do not parse and
// actions that print a value without an escaper of the format.
func Parse(name string, format Format, text string) (*Template, error) {
	escapers, ok := escapersFor[format]
	if !ok {
		_, err := ParseFormat(string(format))
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &Template{name: name, format: format}
	funcs := template.FuncMap{}
	for fname, h := range helpers {
		funcs[fname] = h
	}
	for fname, esc := range escapers {
		funcs[fname] = t.call(fname, esc)
	}
	tmpl, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, tt := range tmpl.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		c := checker{t: t, tree: tt.Tree, escapers: escapers}
		if err := c.list(tt.Tree.Root); err != nil {
			return nil, err
		}
	}
	t.tmpl = tmpl
	return t, nil
}

// Name returns the name given to Parse.
func (t *Template) Name() string { return t.name }

// Format returns the format given to Parse.
func (t *Template) Format() Format { return t.format }

// Render executes the template with data (option values by name). A value
// an escaper refuses is reported as an [*Error].
func (t *Template) Render(data map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&buf, data); err != nil {
		var re *Error
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	return buf.Bytes(), nil
}

// call wraps an escaper as a template function. Parse rewrites every call
// so that its first argument is the site's index, as a string literal.
func (t *Template) call(fname string, esc escaper) func(string, ...any) (string, error) {
	return func(id string, args ...any) (string, error) {
		i, err := strconv.Atoi(id)
		if err != nil || i < 0 || i >= len(t.sites) || len(args) != t.sites[i].params+1 {
			return "", fmt.Errorf("%s: internal error: call site not registered", fname)
		}
		s := t.sites[i]
		var v any
		var params []string
		if s.piped {
			v = args[len(args)-1]
			args = args[:len(args)-1]
		} else {
			v = args[0]
			args = args[1:]
		}
		for _, a := range args {
			p, _ := a.(string) // literals, checked by Parse
			params = append(params, p)
		}
		out, reason := esc(v, params)
		if reason != "" {
			return "", &Error{Template: t.name, Line: s.line, Key: s.key, Reason: reason}
		}
		return out, nil
	}
}

// checker walks one parse tree, refusing unescaped output and rewriting
// escaper calls to carry their site index.
type checker struct {
	t        *Template
	tree     *parse.Tree
	escapers map[string]escaper
}

func (c *checker) errorf(n parse.Node, format string, args ...any) error {
	return fmt.Errorf("%s: %s", c.loc(n), fmt.Sprintf(format, args...))
}

// loc returns "name:line" of n.
func (c *checker) loc(n parse.Node) string {
	loc, _ := c.tree.ErrorContext(n)
	if i := strings.LastIndexByte(loc, ':'); i >= 0 {
		loc = loc[:i]
	}
	return loc
}

func (c *checker) line(n parse.Node) int {
	loc := c.loc(n)
	i := strings.LastIndexByte(loc, ':')
	line, _ := strconv.Atoi(loc[i+1:])
	return line
}

func (c *checker) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := c.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) node(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 { // declarations and assignments print nothing
			if err := c.output(n); err != nil {
				return err
			}
		}
		return c.pipe(n.Pipe)
	case *parse.IfNode:
		return c.branch(&n.BranchNode)
	case *parse.RangeNode:
		return c.branch(&n.BranchNode)
	case *parse.WithNode:
		return c.branch(&n.BranchNode)
	case *parse.TemplateNode:
		return c.pipe(n.Pipe)
	case *parse.ListNode:
		return c.list(n)
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return nil
	}
	return c.errorf(n, "unsupported template construct %s", n)
}

func (c *checker) branch(b *parse.BranchNode) error {
	if err := c.pipe(b.Pipe); err != nil {
		return err
	}
	if err := c.list(b.List); err != nil {
		return err
	}
	return c.list(b.ElseList)
}

// output checks that a printing action ends in an escaper or prints one
// literal.
func (c *checker) output(a *parse.ActionNode) error {
	cmds := a.Pipe.Cmds
	last := cmds[len(cmds)-1]
	if id, ok := last.Args[0].(*parse.IdentifierNode); ok && c.escapers[id.Ident] != nil {
		return nil
	}
	if len(cmds) == 1 && len(last.Args) == 1 {
		switch last.Args[0].(type) {
		case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
			return nil
		}
	}
	return c.errorf(a, "action %s prints a value without an escaper (end it with %s)", a, c.names())
}

func (c *checker) names() string {
	var names []string
	for _, n := range []string{"quote", "int", "bool", "word"} {
		if c.escapers[n] != nil {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// pipe checks and rewrites every command of p, recursively.
func (c *checker) pipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	for i, cmd := range p.Cmds {
		if err := c.command(p, i, cmd); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) command(p *parse.PipeNode, i int, cmd *parse.CommandNode) error {
	for j, arg := range cmd.Args {
		switch arg := arg.(type) {
		case *parse.PipeNode:
			if err := c.pipe(arg); err != nil {
				return err
			}
		case *parse.ChainNode:
			if sub, ok := arg.Node.(*parse.PipeNode); ok {
				if err := c.pipe(sub); err != nil {
					return err
				}
			}
		case *parse.IdentifierNode:
			if c.escapers[arg.Ident] != nil && j > 0 {
				return c.errorf(arg, "escaper %s must be called, not passed as an argument", arg.Ident)
			}
		}
	}
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok || c.escapers[id.Ident] == nil {
		return nil
	}
	s := site{line: c.line(id), piped: i > 0}
	params := cmd.Args[1:]
	if s.piped {
		s.key = p.Cmds[i-1].String()
	} else {
		if len(params) == 0 {
			return c.errorf(id, "%s needs a value", id.Ident)
		}
		s.key = params[0].String()
		params = params[1:]
	}
	for _, a := range params {
		if _, ok := a.(*parse.StringNode); !ok {
			return c.errorf(id, "parameter %s of %s must be a string literal", a, id.Ident)
		}
	}
	s.params = len(params)
	want := 0
	if id.Ident == "bool" {
		want = 2
	}
	if s.params != 0 && s.params != want {
		return c.errorf(id, "%s takes %d parameters, not %d", id.Ident, want, s.params)
	}
	idx := strconv.Itoa(len(c.t.sites))
	c.t.sites = append(c.t.sites, s)
	mark := &parse.StringNode{NodeType: parse.NodeString, Pos: id.Pos, Quoted: strconv.Quote(idx), Text: idx}
	args := make([]parse.Node, 0, len(cmd.Args)+1)
	args = append(args, id, mark)
	cmd.Args = append(args, cmd.Args[1:]...)
	return nil
}
