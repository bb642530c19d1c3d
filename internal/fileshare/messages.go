package fileshare

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"tails-server/internal/apitype"
	"tails-server/internal/safefs"
)

// Visitors' text messages (Config.Messages): a post to /upload may carry
// a form field "message" with or without files. The text is checked
// (CleanMessage) and kept, with the time (UTC) and the names the files of
// the same post got, as one JSON file per message in a folder outside the
// shared and received folders, so that no visitor can ever fetch one.
// Nothing of the sender is kept: there is nothing to keep.

// MessagesFolder is the folder, inside a fileshare service's data folder,
// where its messages are kept: a dot name, which no folder option can
// name, so never inside the shared or received folder.
const MessagesFolder = ".messages"

// MaxMessageBytes is the most bytes a message may have, counted once it
// is valid UTF-8 with its newlines as "\n".
const MaxMessageBytes = 10000

// MaxMessages is the most messages a store keeps; a post with a message
// beyond it is refused (507) and nothing of it is kept, until the host
// deletes some.
const MaxMessages = 1000

// messageField is the form field of the message.
const messageField = "message"

// maxMessageFile bounds the size of a message's file when it is read
// back: the text, up to MaxMessageFiles names, and JSON's escapes.
const maxMessageFile = 1 << 20

// The errors of a message a post carries, each answered with its own
// status (uploadError).
var (
	errMessageTooLong = fmt.Errorf("the message is longer than %d bytes", MaxMessageBytes)
	errMessageBad     = errors.New("bad message")
	errMessagesFull   = fmt.Errorf("the host keeps at most %d messages, and has that many", MaxMessages)
	errMessagesOff    = errors.New("this share takes no messages")
	errMessageTwice   = errors.New("more than one message in the post")
)

// CleanMessage checks a message as a browser posts it: valid UTF-8, at
// most MaxMessageBytes once its line ends (CR LF, as browsers send them,
// or a lone CR) are made "\n", and no control character but newlines and
// tabs (NUL, escape sequences, backspaces and the C1 controls could hide
// or rewrite text on the host's terminal): such a message is refused,
// never silently changed. A message of white space only is no message
// (""). The error wraps errMessageTooLong or errMessageBad.
func CleanMessage(raw []byte) (string, error) {
	if len(raw) > 2*MaxMessageBytes {
		// Even all CR LF, more than the cap once made "\n".
		return "", errMessageTooLong
	}
	if !utf8.Valid(raw) {
		return "", fmt.Errorf("%w: it is not valid UTF-8 text", errMessageBad)
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	if len(text) > MaxMessageBytes {
		return "", errMessageTooLong
	}
	line := 1
	for _, r := range text {
		if r == '\n' {
			line++
			continue
		}
		if r != '\t' && unicode.IsControl(r) {
			return "", fmt.Errorf("%w: line %d holds the control character U+%04X; remove it", errMessageBad, line, r)
		}
	}
	if strings.TrimSpace(text) == "" {
		return "", nil
	}
	return text, nil
}

// msgMu orders the writes and deletes of every message store of this
// process, so that the count stays within MaxMessages when posts come at
// once (and across a restart of the handler, which makes a new store).
var msgMu sync.Mutex

// MessageStore keeps the messages of one service in a folder, each in
// a file of its own, ID.json, mode 0600, written atomically (a temporary
// file, synced, linked to its name). Every file is opened without
// following symlinks (safefs): the folder's parent is trusted, the
// folder itself is not.
type MessageStore struct {
	parent, name string
	max          int
}

// NewMessageStore is the store of the folder dir, whose parent must be
// trusted (written only by root); dir is created (0700) when the first
// message comes.
func NewMessageStore(dir string) *MessageStore {
	return &MessageStore{parent: filepath.Dir(dir), name: filepath.Base(dir), max: MaxMessages}
}

// open opens the folder, created if missing when create.
func (s *MessageStore) open(create bool) (*safefs.Dir, error) {
	var perm uint32
	if create {
		perm = 0o700
	}
	return safefs.OpenDir(s.parent, s.name, perm)
}

// messageFile is the name of a message's file.
func messageFile(id string) string { return id + ".json" }

// ids lists the IDs of the messages of d.
func ids(d *safefs.Dir) ([]string, error) {
	names, err := d.Names()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		id, ok := strings.CutSuffix(n, ".json")
		if ok && apitype.CheckMessageID(id) == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// locked opens the folder (created if missing when create) and calls fn
// with it, msgMu held.
func (s *MessageStore) locked(create bool, fn func(d *safefs.Dir) error) error {
	msgMu.Lock()
	defer msgMu.Unlock()
	d, err := s.open(create)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d)
}

// isFull says errMessagesFull when d holds the store's most messages.
func (s *MessageStore) isFull(d *safefs.Dir) error {
	have, err := ids(d)
	if err == nil && len(have) >= s.max {
		err = errMessagesFull
	}
	return err
}

// full fails with errMessagesFull when the store holds its most messages.
func (s *MessageStore) full() error {
	err := s.locked(false, s.isFull)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // none yet
	}
	return err
}

// Add keeps a message (text as CleanMessage returned it, not empty) with
// the names of the files that came with it, received at now. It fails
// with errMessagesFull when the store holds its most messages.
func (s *MessageStore) Add(text string, files []string, now time.Time) (apitype.Message, error) {
	var rb [apitype.MessageIDLen / 2]byte
	rand.Read(rb[:])
	m := apitype.Message{ID: hex.EncodeToString(rb[:]), Time: now.UTC(), Text: text, Files: files}
	if m.Files == nil {
		m.Files = []string{}
	}
	if len(m.Files) > apitype.MaxMessageFiles {
		m.MoreFiles = len(m.Files) - apitype.MaxMessageFiles
		m.Files = m.Files[:apitype.MaxMessageFiles]
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return m, err
	}
	return m, s.locked(true, func(d *safefs.Dir) error {
		if err := s.isFull(d); err != nil {
			return err
		}
		return d.WriteNew(messageFile(m.ID), b.Bytes(), 0o600)
	})
}

// List returns the messages, newest first (by time, then ID). A file
// that is not a message (unreadable, not a regular file, malformed) is
// left out. A store whose folder is missing has none.
func (s *MessageStore) List() ([]apitype.Message, error) {
	out := []apitype.Message{}
	d, err := s.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer d.Close()
	have, err := ids(d)
	if err != nil {
		return out, err
	}
	for _, id := range have {
		b, err := d.ReadFile(messageFile(id), maxMessageFile)
		if err != nil {
			continue
		}
		var m apitype.Message
		if json.Unmarshal(b, &m) != nil || m.ID != id {
			continue
		}
		if m.Files == nil {
			m.Files = []string{}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// Delete removes the message id; an error wrapping fs.ErrNotExist when
// there is none, one wrapping errMessageBad when id is not an ID.
func (s *MessageStore) Delete(id string) error {
	if err := apitype.CheckMessageID(id); err != nil {
		return fmt.Errorf("%w: %v", errMessageBad, err)
	}
	return s.locked(false, func(d *safefs.Dir) error { return d.Remove(messageFile(id)) })
}

// removeTemp removes the temporary files writes cut short by a kill of
// the daemon left; none is under way while msgMu is held.
func (s *MessageStore) removeTemp() error {
	return s.locked(false, func(d *safefs.Dir) error { return d.RemoveTemp() })
}

// IsBadMessageID reports whether err is Delete's error about an ID that
// is not one.
func IsBadMessageID(err error) bool { return errors.Is(err, errMessageBad) }

// startMessages checks cfg's messages folder, sets its default count,
// and removes what a kill left in the folder.
func startMessages(cfg *Config) error {
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = MaxMessages
	}
	if cfg.MessagesDir == "" {
		if cfg.Messages {
			return errors.New("fileshare: messages are on but no folder is given for them")
		}
		return nil
	}
	dir := filepath.Clean(cfg.MessagesDir)
	if !filepath.IsAbs(dir) {
		return errors.New("fileshare: the messages folder must be an absolute path")
	}
	for _, f := range []string{cfg.SharedDir, cfg.ReceivedDir} {
		if within(filepath.Clean(f), dir) {
			return errors.New("fileshare: the messages folder must not be inside the shared or received folder (visitors could fetch messages)")
		}
	}
	if err := NewMessageStore(dir).removeTemp(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fileshare: removing unfinished messages: %w", err)
	}
	return nil
}

// msgs is the handler's message store, nil without a messages folder.
func (h *Handler) msgs() *MessageStore {
	if h.cfg.MessagesDir == "" {
		return nil
	}
	s := NewMessageStore(h.cfg.MessagesDir)
	s.max = h.cfg.MaxMessages
	return s
}
