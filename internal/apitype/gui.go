package apitype

import "time"

// GUILogin is a fresh one-time login for the daemon's web GUI, minted for
// the uid that asked through the API socket. Token is the secret: POST it,
// as the form field "token", to URL (http://127.0.0.1:PORT/login, which
// holds no secret). It works once, before Expires. The CLI never puts the
// token in a URL or in a process's arguments: `tails-server gui` writes it
// into a 0600 file of the caller's that the browser opens.
type GUILogin struct {
	URL     string    `json:"url" yaml:"url"`
	Token   string    `json:"token" yaml:"token"`
	Expires time.Time `json:"expires" yaml:"expires"`
}

// CallerHeader carries, from the daemon's own GUI, the uid of the person
// the GUI acts for (its session's). The API believes it only from the
// daemon's own process, and refuses it from any other.
const CallerHeader = "Tails-Server-Caller-Uid"
