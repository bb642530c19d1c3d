package services

import (
	"fmt"
	"os"
	"path/filepath"

	"tails-server/internal/catalog"
)

// optionNotes are what set-option says besides the new value when the
// change, though accepted, shows nowhere (or not yet). Call with s.mu
// held.
func (m *Manager) optionNotes(s *service, option string) []string {
	if s.def.Backend.Builtin == catalog.BuiltinWeb && option == "title" {
		_, dataDir := dirs(m.store, s.def.Name)
		index := filepath.Join(dataDir, "www", "index.html")
		if _, err := os.Stat(index); err == nil {
			return []string{fmt.Sprintf("the title shows only on the welcome page written into an empty web folder, and %s is served instead: "+
				"the new title shows nowhere (delete that file to get the welcome page with this title at the next start)", index)}
		}
	}
	return m.timerNotes(s, option) // timers.go
}
