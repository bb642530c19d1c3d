package services

// usableWarnings are the warnings of the service's usable_when conditions
// that its current options do not meet: "no one can log in yet: set
// authorized-keys ...". Call with s.mu held.
func (m *Manager) usableWarnings(s *service) []string {
	var w []string
	for _, u := range s.def.Unusable(m.values(s)) {
		w = append(w, u.Warning)
	}
	return w
}

// optionWarnings are the usable_when warnings about one option: those of
// the unmet conditions that name it, so that the GUI shows them next to
// the option that would lift them and set-option prints them when a
// change leaves no one able to use the service. Call with s.mu held.
func (m *Manager) optionWarnings(s *service, option string) []string {
	var w []string
	for _, u := range s.def.Unusable(m.values(s)) {
		for _, name := range u.AnyOf {
			if name == option {
				w = append(w, u.Warning)
				break
			}
		}
	}
	return w
}
