package catalog

import (
	"os"
	"path/filepath"
	"strings"
)

// LoadFile reads one description file outside any catalog directory (the
// argument of `tails-server check`), with the files next to it that it
// names, and checks it as Load checks each file. On problems it returns
// nil and every problem, as *LoadError values.
func LoadFile(file string) (*Service, []error) {
	if !strings.HasSuffix(file, ".yaml") {
		return nil, []error{&LoadError{File: file, Msg: "a service description is a NAME.yaml file"}}
	}
	s, _, errs := loadFile(os.DirFS(filepath.Dir(file)), filepath.Base(file), file)
	return s, errs
}

// Neighbours are the files next to the description that it reads: its
// icon and its template files.
func (s *Service) Neighbours() []string {
	var names []string
	if s.Icon != "" {
		names = append(names, s.Icon)
	}
	for _, cf := range s.ConfigFiles {
		if cf.TemplateFile != "" {
			names = append(names, cf.TemplateFile)
		}
	}
	return names
}
