package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	catalogfs "tails-server/services"
)

// Every built-in service has its page, docs/services/NAME.md, which
// documents each of its own options, and the README's catalog table
// lists it (the README promises a page per built-in service).
func TestEveryBuiltinServiceHasItsPage(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cat.Names() {
		page := filepath.Join("../../docs/services", name+".md")
		b, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("built-in service %s has no page: %v (write docs/services/%s.md, in the style of the others)", name, err, name)
			continue
		}
		if !strings.HasPrefix(string(b), "# "+name+": ") {
			t.Errorf("%s: the title line should be \"# %s: what it is\"", page, name)
		}
		s, _ := cat.Get(name)
		for _, o := range s.Options {
			if !strings.Contains(string(b), "| `"+o.Name+"` |") {
				t.Errorf("%s: option %s is not in its options table", page, o.Name)
			}
		}
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README.md: the built-in catalog table lacks %s", name)
		}
	}
}
