// Package reportingclient is the reporting service's HTTP client: the
// reporting.API of a remote reporting target.
package reportingclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/reporting"
)

// ErrUnexpected is an answer the client cannot map to a service error.
var ErrUnexpected = errors.New("unexpected answer from the reporting service")

// Client is a reporting.API over HTTP. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the reporting target at baseURL. A nil
// httpClient means one with a 2 min timeout (finishing renders a report).
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient}
}

// Progress implements reporting.API.
func (c *Client) Progress(ctx context.Context, runID string) (reporting.Progress, error) {
	var p reporting.Progress
	return p, c.do(ctx, http.MethodGet, strings.Replace(reporting.ProgressPath, "{id}", url.PathEscape(runID), 1), &p)
}

// Finish implements reporting.API.
func (c *Client) Finish(ctx context.Context, runID string) (reporting.Verdict, error) {
	var v reporting.VerdictBody
	return v.Verdict, c.do(ctx, http.MethodPost, strings.Replace(reporting.FinishPath, "{id}", url.PathEscape(runID), 1), &v)
}

// collectBatch is the most snapshots the collect route takes at once.
const collectBatch = 100

// Collect implements reporting.API, in batches the route accepts.
func (c *Client) Collect(ctx context.Context, runID string, snaps []wire.Snapshot) error {
	path := strings.Replace(reporting.CollectPath, "{id}", url.PathEscape(runID), 1)
	for len(snaps) > 0 {
		n := min(len(snaps), collectBatch)
		body, err := json.Marshal(snaps[:n])
		if err != nil {
			return fmt.Errorf("encode the collected snapshots: %w", err)
		}
		var out reporting.CollectBody
		if err := c.doBody(ctx, http.MethodPost, path, body, &out); err != nil {
			return err
		}
		snaps = snaps[n:]
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.doBody(ctx, method, path, nil, out)
}

func (c *Client) doBody(ctx context.Context, method, path string, in []byte, out any) error {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e httpserver.ErrorBody
		_ = json.Unmarshal(data, &e)
		if e.Code == httpserver.CodeNotFound {
			return fmt.Errorf("%w: %s", store.ErrNotFound, e.Error)
		}
		return fmt.Errorf("%w: %s %s: status %d: %s", ErrUnexpected, method, path, resp.StatusCode, e.Error)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnexpected, method, path, err)
	}
	return nil
}

var _ reporting.API = (*Client)(nil)
