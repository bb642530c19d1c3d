package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"tails-server/internal/apitype"
)

// FilesQuery says which content folder of a service a files call works
// on: Folder by name, or the service's first received one (Received), or
// its first offered one.
type FilesQuery struct {
	Folder   string
	Received bool
}

func (q FilesQuery) values() url.Values {
	v := url.Values{}
	if q.Folder != "" {
		v.Set("folder", q.Folder)
	}
	if q.Received {
		v.Set("received", "1")
	}
	return v
}

// ListFiles lists the files of a content folder.
func (c *Client) ListFiles(ctx context.Context, name string, q FilesQuery) (apitype.FileList, error) {
	var l apitype.FileList
	return l, c.do(ctx, http.MethodGet, svcPath(name, "files")+"?"+q.values().Encode(), nil, &l)
}

// RemoveFiles removes files or folders of a content folder.
func (c *Client) RemoveFiles(ctx context.Context, name string, q FilesQuery, names []string) (apitype.RemoveFilesResult, error) {
	var r apitype.RemoveFilesResult
	v := q.values()
	for _, n := range names {
		v.Add("name", n)
	}
	return r, c.do(ctx, http.MethodDelete, svcPath(name, "files")+"?"+v.Encode(), nil, &r)
}

// AddOptions say where an add goes.
type AddOptions struct {
	Folder  string // a content folder's name; "" the first offered one
	To      string // a folder inside it
	Replace bool
	// Total is the size of the files, which the daemon checks against
	// its free space before anything is sent (0: not known).
	Total int64
	// ContentType is the body's: "" a tar stream, or a
	// multipart/form-data one with its boundary (a form's files).
	ContentType string
}

// AddFiles streams body, a tar stream of files and folders (see
// apitype.FilesTotalHeader) or a form's files (opt.ContentType), to a
// service's content folder.
func (c *Client) AddFiles(ctx context.Context, name string, opt AddOptions, body io.Reader) (apitype.AddResult, error) {
	var res apitype.AddResult
	if err := c.precheck(); err != nil {
		return res, err
	}
	v := url.Values{}
	if opt.Folder != "" {
		v.Set("folder", opt.Folder)
	}
	if opt.To != "" {
		v.Set("to", opt.To)
	}
	if opt.Replace {
		v.Set("replace", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apitype.Host+apitype.Version+svcPath(name, "files")+"?"+v.Encode(), body)
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	if opt.ContentType != "" {
		req.Header.Set("Content-Type", opt.ContentType)
	}
	if opt.Total > 0 {
		req.Header.Set(apitype.FilesTotalHeader, strconv.FormatInt(opt.Total, 10))
	}
	resp, err := c.stream(ctx, req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return res, err
	}
	return res, json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res)
}

// stream sends req, whose body is a stream, on a connection of its own,
// and reads the answer while the body goes: the daemon may refuse the
// body part-way (a name that exists, a full disk) and close, and its
// answer, not the broken write, is what the caller must see. The answer's
// body closes the connection.
func (c *Client) stream(ctx context.Context, req *http.Request) (*http.Response, error) {
	conn, err := c.dial(ctx, "unix", c.Socket)
	if err != nil {
		return nil, c.connErr(err)
	}
	if uid, ok := ctx.Value(callerKey{}).(int); ok {
		req.Header.Set(apitype.CallerHeader, strconv.Itoa(uid))
	}
	req.Close = true
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	werr := make(chan error, 1)
	go func() { werr <- req.Write(conn) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if w := <-werr; w != nil {
			err = w
		}
		return nil, c.connErr(err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, close: func() { stop(); conn.Close() }}
	return resp, nil
}

// connBody is an answer's body that closes its connection.
type connBody struct {
	io.ReadCloser
	close func()
}

func (b *connBody) Close() error {
	err := b.ReadCloser.Close()
	b.close()
	return err
}

// OpenFile returns one file of a content folder (by default the first
// received one) as a stream, and its size. The caller closes it; a read
// of a stream cut short fails (io.ErrUnexpectedEOF).
func (c *Client) OpenFile(ctx context.Context, name, folder, file string) (io.ReadCloser, int64, error) {
	if err := c.precheck(); err != nil {
		return nil, 0, err
	}
	v := url.Values{"name": {file}}
	if folder != "" {
		v.Set("folder", folder)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apitype.Host+apitype.Version+svcPath(name, "file")+"?"+v.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, c.connErr(err)
	}
	if err := answerError(resp); err != nil {
		resp.Body.Close()
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// answerError returns the daemon's error of a non-2xx answer.
func answerError(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e apitype.Error
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
	}
	return &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
}
