package apitype

import (
	"fmt"
	"time"
)

// Message is one text message a visitor left with a service (fileshare's
// receive mode with its messages option on). Nothing of who sent it is
// known: onion visitors have no address.
type Message struct {
	// ID names the message for DELETE; see CheckMessageID.
	ID string `json:"id" yaml:"id"`
	// Time is when the message was received, in UTC.
	Time time.Time `json:"time" yaml:"time"`
	// Text is the message: valid UTF-8, newlines as "\n", no other control
	// character but tabs.
	Text string `json:"text" yaml:"text"`
	// Files are the names (in the received folder) of the files sent with
	// the message, in the order they came; MoreFiles counts those left
	// out after the first MaxMessageFiles.
	Files     []string `json:"files" yaml:"files"`
	MoreFiles int      `json:"more_files,omitempty" yaml:"more_files,omitempty"`
}

// MaxMessageFiles is the most file names a message keeps.
const MaxMessageFiles = 1000

// MessageList is the answer of GET /services/{name}/messages: the
// service's messages, newest first.
type MessageList struct {
	Service string `json:"service" yaml:"service"`
	// Accepting says whether visitors may send messages now (the messages
	// option is on, in a mode that receives); messages kept from before
	// are listed either way.
	Accepting bool      `json:"accepting" yaml:"accepting"`
	Messages  []Message `json:"messages" yaml:"messages"`
}

// DeleteMessageResult is the answer of DELETE
// /services/{name}/messages/{id}.
type DeleteMessageResult struct {
	Service string `json:"service" yaml:"service"`
	Deleted string `json:"deleted" yaml:"deleted"`
}

// MessageIDLen is the length of a message ID.
const MessageIDLen = 16

// CheckMessageID checks a message ID: MessageIDLen lowercase hexadecimal
// digits, so that it never names a path.
func CheckMessageID(id string) error {
	ok := len(id) == MessageIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
	}
	if !ok {
		return fmt.Errorf("message ID %q: an ID is %d lowercase hexadecimal digits, as `tails-server messages SERVICE` shows them", clip(id), MessageIDLen)
	}
	return nil
}

// clip shortens a bad value for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
