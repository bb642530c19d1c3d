package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"tails-server/internal/apitype"
)

// Export writes the archive of a service (name, or every service when
// name is "") to w, encrypted by the daemon as req says. It fails unless
// the daemon said the archive is complete (apitype.ExportTrailer): a
// caller keeps what it wrote only then.
func (c *Client) Export(ctx context.Context, name string, req apitype.ExportRequest, w io.Writer) error {
	if err := c.precheck(); err != nil {
		return err
	}
	p := "/export"
	if name != "" {
		p = svcPath(name, "export")
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apitype.Host+apitype.Version+p, bytes.NewReader(b))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return c.connErr(err)
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return err
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("the archive was cut short: %w", err)
	}
	if t := resp.Trailer.Get(apitype.ExportTrailer); t != "ok" {
		if t == "" {
			t = "the daemon did not finish it"
		}
		return errors.New("the archive is incomplete: " + t)
	}
	return nil
}

// StartImport sends an archive to the daemon, which checks all of it and
// stages it: the answer is its preview; nothing changes before
// ApplyImport.
func (c *Client) StartImport(ctx context.Context, req apitype.ImportRequest, archive io.Reader) (apitype.ImportPreview, error) {
	var pv apitype.ImportPreview
	if err := c.precheck(); err != nil {
		return pv, err
	}
	line, err := json.Marshal(req)
	if err != nil {
		return pv, err
	}
	body := io.MultiReader(bytes.NewReader(append(line, '\n')), archive)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apitype.Host+apitype.Version+"/imports", body)
	if err != nil {
		return pv, err
	}
	hr.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.stream(ctx, hr)
	if err != nil {
		return pv, err
	}
	defer resp.Body.Close()
	if err := answerError(resp); err != nil {
		return pv, err
	}
	return pv, json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&pv)
}

// ApplyImport moves a staged import's services into place.
func (c *Client) ApplyImport(ctx context.Context, id string, replace bool) (apitype.ImportResult, error) {
	var r apitype.ImportResult
	return r, c.do(ctx, http.MethodPost, "/imports/"+url.PathEscape(id)+"/apply", apitype.ImportApply{Replace: replace}, &r)
}

// CancelImport removes a staged import.
func (c *Client) CancelImport(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/imports/"+url.PathEscape(id), nil, nil)
}
