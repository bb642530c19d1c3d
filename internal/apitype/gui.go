package apitype

import "time"

// GUILogin is a fresh one-time login URL for the daemon's web GUI. Only a
// holder of the API socket can ask for one; the URL works once, before
// Expires, and only from a browser on this machine.
type GUILogin struct {
	URL     string    `json:"url" yaml:"url"`
	Expires time.Time `json:"expires" yaml:"expires"`
}
