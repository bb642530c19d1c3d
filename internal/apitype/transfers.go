package apitype

import "time"

// Transfer kinds.
const (
	TransferDownload = "download"
	TransferUpload   = "upload"
)

// Transfer is one download or upload of a service that records them
// (fileshare). It never names a visitor: there is no address to name.
type Transfer struct {
	// Kind is TransferDownload or TransferUpload.
	Kind string `json:"kind" yaml:"kind"`
	// Name is what a download took: a shared file's path, or a zip
	// archive's name (shared.zip for everything). Empty for an upload.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Start and End are UTC; End is absent while the transfer is under
	// way.
	Start time.Time  `json:"start" yaml:"start"`
	End   *time.Time `json:"end,omitempty" yaml:"end,omitempty"`
	// Bytes went through so far: the response body of a download, the
	// request (its form included) of an upload.
	Bytes int64 `json:"bytes" yaml:"bytes"`
	// Size is the bytes expected, when known (a file's size, an upload's
	// declared length; not a zip archive's).
	Size *int64 `json:"size,omitempty" yaml:"size,omitempty"`
	// Complete: a download reached its last byte; an upload had all its
	// files stored.
	Complete bool `json:"complete" yaml:"complete"`
}

// Transfers is the answer of GET /services/{name}/transfers: the
// transfers under way, oldest first, with their bytes so far (for a
// progress bar, polled), and the finished ones, newest first.
type Transfers struct {
	Service    string     `json:"service" yaml:"service"`
	InProgress []Transfer `json:"in_progress" yaml:"in_progress"`
	History    []Transfer `json:"history" yaml:"history"`
}
