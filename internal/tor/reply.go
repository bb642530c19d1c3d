package tor

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Limits on what the reply reader accepts, so a broken or hostile peer
// cannot make it buffer without bound.
const (
	maxLineLen  = 1 << 20  // one line of a reply, in bytes
	maxReplyLen = 64 << 20 // a whole reply, data blocks included
	maxLines    = 1 << 20  // lines (and data lines) in one reply
)

// reply is one complete reply (or asynchronous event) from tor.
type reply struct {
	Code  int         // status code of the final line
	Lines []replyLine // every line, the final one included
}

// replyLine is one "NNN<sep>text" line of a reply. For a "+" line, Data
// holds the data block that followed it, dot-unstuffed, its lines joined
// with "\n".
type replyLine struct {
	Code    int
	Text    string
	HasData bool
	Data    string
}

// errProtocol marks malformed input from tor.
var errProtocol = errors.New("tor: malformed control protocol reply")

// readLine reads one line and strips its CRLF (a bare LF is accepted too).
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > maxLineLen {
			return "", fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLineLen)
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := string(buf[:len(buf)-1])
	return strings.TrimSuffix(s, "\r"), nil
}

// readReply reads one reply: any number of "NNN-" and "NNN+" lines (the
// latter followed by a data block ending in a lone "."), then a "NNN "
// line.
func readReply(r *bufio.Reader) (*reply, error) {
	rep := &reply{}
	total := 0
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		total += len(line)
		if len(line) < 4 {
			return nil, fmt.Errorf("%w: short line", errProtocol)
		}
		code := 0
		for _, c := range line[:3] {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("%w: bad status code", errProtocol)
			}
			code = code*10 + int(c-'0')
		}
		if len(rep.Lines) > 0 && code != rep.Lines[0].Code {
			return nil, fmt.Errorf("%w: status code changed within a reply", errProtocol)
		}
		rl := replyLine{Code: code, Text: line[4:]}
		switch line[3] {
		case ' ':
			rep.Lines = append(rep.Lines, rl)
			rep.Code = code
			return rep, nil
		case '-':
		case '+':
			var data []string
			for {
				d, err := readLine(r)
				if err != nil {
					return nil, err
				}
				if d == "." {
					break
				}
				total += len(d) + 1
				if total > maxReplyLen || len(data) >= maxLines {
					return nil, fmt.Errorf("%w: reply larger than %d bytes", errProtocol, maxReplyLen)
				}
				data = append(data, strings.TrimPrefix(d, "."))
			}
			rl.HasData = true
			rl.Data = strings.Join(data, "\n")
		default:
			return nil, fmt.Errorf("%w: bad separator after the status code", errProtocol)
		}
		rep.Lines = append(rep.Lines, rl)
		if total > maxReplyLen || len(rep.Lines) >= maxLines {
			return nil, fmt.Errorf("%w: reply larger than %d bytes", errProtocol, maxReplyLen)
		}
	}
}

// ReplyError is a reply from tor with a status code other than 2xx (for
// instance 512 syntax error, 552 unrecognized entity).
type ReplyError struct {
	Code int    // tor's status code
	Text string // tor's text of the reply's first line
}

// Error returns "tor replied CODE TEXT".
func (e *ReplyError) Error() string {
	return fmt.Sprintf("tor replied %d %s", e.Code, e.Text)
}

// replyErr returns a *ReplyError unless the reply is a 2xx success.
func replyErr(r *reply) error {
	if r.Code >= 200 && r.Code < 300 {
		return nil
	}
	text := ""
	if len(r.Lines) > 0 {
		text = r.Lines[0].Text
	}
	return &ReplyError{Code: r.Code, Text: text}
}
