package catalog

import (
	"strings"
	"testing"
	"testing/fstest"

	catalogfs "tails-server/services"
)

// contentBase is a valid service; each case appends a content section.
const contentBase = `name: svc
title: Svc
description: A service.
backend:
  builtin: web
onion_ports:
  - virtual: 80
options:
  - name: dir
    title: Folder
    type: string
    default: share
    pattern: '[a-z]+'
    pattern_help: use lower case letters
  - name: loose
    title: Loose
    type: string
    default: x
  - name: count
    title: Count
    type: int
    default: 1
`

func loadContent(t *testing.T, content string) (*Service, []error) {
	t.Helper()
	cat, errs := Load(fstest.MapFS{"svc.yaml": {Data: []byte(contentBase + content)}})
	s, _ := cat.Get("svc")
	return s, errs
}

// TestContentErrors: every mistake in a content section is one error
// naming its line and what to fix, and the service does not load.
func TestContentErrors(t *testing.T) {
	tests := []struct {
		content string
		want    string // "line: part of the message"
	}{
		{"content: []\n", "23: content is empty"},
		{"content: share\n", "23: content must be a list"},
		{"content:\n  - name: Share\n    title: S\n    kind: offered\n    path: s\n", "24: content[0].name: \"Share\" must match"},
		{"content:\n  - title: S\n    kind: offered\n    path: s\n", "24: content[0]: missing name"},
		{"content:\n  - name: s\n    kind: offered\n    path: s\n", "24: content[0]: missing title"},
		{"content:\n  - name: s\n    title: S\n    kind: shared\n    path: s\n", "26: content[0].kind: unknown kind \"shared\" (want offered or received)"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n", "24: content[0]: set exactly one of path"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: s\n    option: dir\n", "24: content[0]: set exactly one of path"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: ../s\n", "27: content[0].path: \"../s\" leaves its directory"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: /srv\n", "27: content[0].path: \"/srv\" must be relative"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: .\n", "27: content[0].path: \".\" names the directory itself"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: a/.git\n", "27: content[0].path: \"a/.git\" has a name starting with a dot"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    option: nope\n", "27: content[0].option: the service has no option \"nope\""},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    option: count\n", "27: content[0].option: option \"count\" is of type int"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    option: loose\n", "27: content[0].option: option \"loose\" has no pattern"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: s\n    colour: red\n", "28: content[0]: unknown key \"colour\""},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: s\n  - name: s\n    title: T\n    kind: received\n    path: t\n", "28: content[1].name: folder \"s\" is declared twice (first at line 24)"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    path: s\n  - name: t\n    title: T\n    kind: received\n    path: s\n", "31: content[1].path: \"s\" is already the folder of line 27"},
		{"content:\n  - name: s\n    title: S\n    kind: offered\n    option: dir\n  - name: t\n    title: T\n    kind: received\n    option: dir\n", "31: content[1].option: option \"dir\" already holds the folder of line 27"},
	}
	for _, tt := range tests {
		s, errs := loadContent(t, tt.content)
		if s != nil || len(errs) != 1 {
			t.Errorf("%q: service %v, errors %v; want it refused with one error", tt.content, s != nil, errs)
			continue
		}
		line, msg, _ := strings.Cut(tt.want, ": ")
		if got := errs[0].Error(); !strings.HasPrefix(got, "builtin:svc.yaml:"+line+": ") || !strings.Contains(got, msg) {
			t.Errorf("%q: error %q, want builtin:svc.yaml:%s: ...%s...", tt.content, got, line, msg)
		}
		if strings.Contains(errs[0].Error(), "\n") {
			t.Errorf("%q: error %q is not one line", tt.content, errs[0])
		}
	}
}

func TestContentDecoded(t *testing.T) {
	s, errs := loadContent(t, "content:\n  - name: share\n    title: Shared\n    kind: offered\n    option: dir\n  - name: in\n    title: In\n    kind: received\n    path: in/box\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []ContentFolder{{Name: "share", Title: "Shared", Kind: ContentOffered, Option: "dir"}, {Name: "in", Title: "In", Kind: ContentReceived, Path: "in/box"}}
	if len(s.Content) != 2 || s.Content[0] != want[0] || s.Content[1] != want[1] {
		t.Errorf("content = %+v, want %+v", s.Content, want)
	}
	if f, ok := s.FirstFolder(ContentReceived); !ok || f.Name != "in" {
		t.Errorf("FirstFolder(received) = %v %v", f, ok)
	}
}

// TestBuiltinContent: fileshare, web and lighttpd declare their folders.
func TestBuiltinContent(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string][]ContentFolder{
		"fileshare": {{Name: "share", Title: "Shared files", Kind: ContentOffered, Option: "shared-dir"}, {Name: "received", Title: "Received files", Kind: ContentReceived, Option: "received-dir"}},
		"web":       {{Name: "www", Title: "Web site", Kind: ContentOffered, Path: "www"}},
		"lighttpd":  {{Name: "www", Title: "Web site", Kind: ContentOffered, Option: "document-root"}},
	}
	for name, w := range want {
		s, _ := cat.Get(name)
		if len(s.Content) != len(w) {
			t.Errorf("%s: content %+v, want %+v", name, s.Content, w)
			continue
		}
		for i := range w {
			if s.Content[i] != w[i] {
				t.Errorf("%s: content[%d] = %+v, want %+v", name, i, s.Content[i], w[i])
			}
		}
	}
	if s, _ := cat.Get("mumble"); len(s.Content) != 0 {
		t.Errorf("mumble declares content %+v", s.Content)
	}
}
