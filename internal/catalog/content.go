package catalog

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kinds of content folders, the values of ContentFolder.Kind.
const (
	// ContentOffered is a folder whose files visitors get: the host adds
	// files to it (`tails-server files add`).
	ContentOffered = "offered"
	// ContentReceived is a folder visitors put files in: the host lists,
	// saves and removes them.
	ContentReceived = "received"
)

// MaxContentFolders bounds the content folders one service declares.
const MaxContentFolders = 8

// ContentFolder is one folder of a service's own content, which the
// `files` verbs of the CLI, the API and the GUI work on. It is inside the
// service's data directory: at Path, or at the value of the string option
// Option (exactly one of the two is set).
type ContentFolder struct {
	Name  string // ^[a-z][a-z0-9-]{0,31}$, unique within the service
	Title string // shown in the GUI
	Kind  string // ContentOffered or ContentReceived
	// Path is relative to the data directory, clean, never "." nor "..".
	Path string
	// Option names one of the service's own string options whose value is
	// the folder, relative to the data directory (e.g. fileshare's
	// shared-dir).
	Option string
}

var contentNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Folder returns the content folder of that name.
func (s *Service) Folder(name string) (*ContentFolder, bool) {
	for i := range s.Content {
		if s.Content[i].Name == name {
			return &s.Content[i], true
		}
	}
	return nil, false
}

// FirstFolder returns the service's first content folder of that kind.
func (s *Service) FirstFolder(kind string) (*ContentFolder, bool) {
	for i := range s.Content {
		if s.Content[i].Kind == kind {
			return &s.Content[i], true
		}
	}
	return nil, false
}

// content decodes the content section; the options must be decoded
// already, since a folder may name one.
func (d *decoder) content(n *yaml.Node, s *Service) []ContentFolder {
	items := d.sequence(n, "content")
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		d.errorf(n, "content is empty; remove it or list the service's folders")
	}
	if len(items) > MaxContentFolders {
		d.errorf(n, "content: %d folders, at most %d", len(items), MaxContentFolders)
		return nil
	}
	var out []ContentFolder
	names := map[string]int{}
	where := map[string]int{} // path or option -> line
	for i, it := range items {
		what := fmt.Sprintf("content[%d]", i)
		f := d.mapping(it, what, "name", "title", "kind", "path", "option")
		if f == nil {
			continue
		}
		nerr := len(d.errs)
		var c ContentFolder
		if v := d.required(f, "name", what); v != nil {
			c.Name = d.line(v, what+".name", 64)
			switch {
			case c.Name != "" && !contentNameRE.MatchString(c.Name):
				d.errorf(v, "%s.name: %q must match ^[a-z][a-z0-9-]{0,31}$", what, c.Name)
			case names[c.Name] != 0:
				d.errorf(v, "%s.name: folder %q is declared twice (first at line %d)", what, c.Name, names[c.Name])
			default:
				names[c.Name] = v.Line
			}
		}
		if v := d.required(f, "title", what); v != nil {
			c.Title = d.line(v, what+".title", 80)
		}
		if v := d.required(f, "kind", what); v != nil {
			c.Kind = d.line(v, what+".kind", 16)
			if c.Kind != "" && c.Kind != ContentOffered && c.Kind != ContentReceived {
				d.errorf(v, "%s.kind: unknown kind %q (want %s or %s)", what, c.Kind, ContentOffered, ContentReceived)
			}
		}
		pv, ov := f.get("path"), f.get("option")
		switch {
		case (pv == nil) == (ov == nil):
			d.errorf(it, "%s: set exactly one of path (a folder inside the data directory) and option (a string option holding it)", what)
		case pv != nil:
			c.Path = d.localPath(pv, what+".path", false)
			if strings.HasPrefix(c.Path, ".") || strings.Contains(c.Path, "/.") {
				d.errorf(pv, "%s.path: %q has a name starting with a dot, which is never offered", what, c.Path)
			}
			if l, dup := where["path "+c.Path]; dup && c.Path != "" {
				d.errorf(pv, "%s.path: %q is already the folder of line %d", what, c.Path, l)
			}
			where["path "+c.Path] = pv.Line
		default:
			c.Option = d.line(ov, what+".option", 64)
			o, ok := s.Option(c.Option)
			switch {
			case c.Option == "":
			case !ok:
				d.errorf(ov, "%s.option: the service has no option %q", what, c.Option)
			case o.Type != TypeString:
				d.errorf(ov, "%s.option: option %q is of type %s; a folder needs a string option", what, c.Option, o.Type)
			case o.Pattern == "":
				d.errorf(ov, "%s.option: option %q has no pattern; give it one that keeps the value a folder inside the data directory", what, c.Option)
			}
			if l, dup := where["option "+c.Option]; dup && c.Option != "" {
				d.errorf(ov, "%s.option: option %q already holds the folder of line %d", what, c.Option, l)
			}
			where["option "+c.Option] = ov.Line
		}
		if len(d.errs) == nerr {
			out = append(out, c)
		}
	}
	return out
}
