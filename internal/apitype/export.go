package apitype

import "time"

// ExportRequest is the body of POST /services/{name}/export and POST
// /export: exactly one of Passphrase (age's scrypt) and Recipient (an age
// X25519 recipient, "age1..."). The answer is the archive, streamed, with
// ExportTrailer set to "ok" once it is complete (anything else: the
// archive is not, and the trailer says why).
type ExportRequest struct {
	Passphrase string `json:"passphrase,omitempty"`
	Recipient  string `json:"recipient,omitempty"`
}

// ExportTrailer is the HTTP trailer of an export's answer: "ok", or the
// error that cut the archive short.
const ExportTrailer = "Tails-Server-Export"

// ImportRequest is the first line of the body of POST /imports (JSON, one
// line), followed by the archive: Passphrase, or Identity (the content of
// an age identity file), and As, the name to import a one-service archive
// under (default its own).
type ImportRequest struct {
	Passphrase string `json:"passphrase,omitempty"`
	Identity   string `json:"identity,omitempty"`
	As         string `json:"as,omitempty"`
}

// ImportPreview is what an archive holds, checked whole and staged: the
// answer of POST /imports. Nothing is changed until POST
// /imports/{id}/apply.
type ImportPreview struct {
	// ID names the staged import for apply and DELETE.
	ID string `json:"id" yaml:"id"`
	// Kind is "service" or "all".
	Kind string `json:"kind" yaml:"kind"`
	// Created is when the archive was written (UTC).
	Created time.Time `json:"created" yaml:"created"`
	// Format is the archive's format version.
	Format   int             `json:"format" yaml:"format"`
	Services []ImportService `json:"services" yaml:"services"`
	// Settings are the archived daemon settings (an --all archive).
	Settings map[string]string `json:"settings,omitempty" yaml:"settings,omitempty"`
	// Notes say what an apply will not do.
	Notes []string `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// ImportService is one service of an archive.
type ImportService struct {
	// Name is the name it is imported under.
	Name string `json:"name" yaml:"name"`
	// From is its name in the archive, when another.
	From         string   `json:"from,omitempty" yaml:"from,omitempty"`
	OnionAddress string   `json:"onion_address,omitempty" yaml:"onion_address,omitempty"`
	Clients      []string `json:"clients" yaml:"clients"`
	// Files and Bytes count the files of its folder (data, content,
	// config).
	Files int   `json:"files" yaml:"files"`
	Bytes int64 `json:"bytes" yaml:"bytes"`
	// Options are the values set in the archive (secrets hidden).
	Options    map[string]string `json:"options,omitempty" yaml:"options,omitempty"`
	Persistent bool              `json:"persistent" yaml:"persistent"`
	// Existing says what is here under that name now: "none", "same
	// key" or "another key" (then apply needs Replace).
	Existing string `json:"existing" yaml:"existing"`
}

// ImportApply is the body of POST /imports/{id}/apply.
type ImportApply struct {
	// Replace lets the import replace a service of the same name that
	// has another key (and its address).
	Replace bool `json:"replace,omitempty"`
}

// ImportResult is the answer of an apply: the services imported, each
// disabled until enabled.
type ImportResult struct {
	Services []string `json:"services" yaml:"services"`
}
