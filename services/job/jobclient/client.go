// Package jobclient is the job service's HTTP client: the job.API of a
// remote job service.
package jobclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// ErrUnexpected is an answer the client cannot map to a service error.
var ErrUnexpected = errors.New("unexpected answer from the job service")

// Client is a job.API over HTTP. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
}

// DefaultTimeout bounds a call: starting a container can take a while.
const DefaultTimeout = 60 * time.Second

// New returns a client of the job service at baseURL. A nil httpClient
// means one with DefaultTimeout.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient}
}

// Locations implements job.API.
func (c *Client) Locations(ctx context.Context) ([]job.LocationInfo, error) {
	var list job.LocationList
	return list.Locations, c.json(ctx, http.MethodGet, job.LocationsPath, nil, &list)
}

// Start implements job.API.
func (c *Client) Start(ctx context.Context, location string, id wire.ShardID, spec wire.ShardSpec) error {
	return c.json(ctx, http.MethodPut, job.ExecutorPath(location, id), spec, nil)
}

// Status implements job.API.
func (c *Client) Status(ctx context.Context, location string, id wire.ShardID) (backend.Status, error) {
	var st backend.Status
	return st, c.json(ctx, http.MethodGet, job.ExecutorPath(location, id), nil, &st)
}

// List implements job.API.
func (c *Client) List(ctx context.Context, location, runID string) ([]backend.Status, error) {
	var list job.StatusList
	return list.Executors, c.json(ctx, http.MethodGet, job.RunExecutorsPath(location, runID), nil, &list)
}

// Stop implements job.API.
func (c *Client) Stop(ctx context.Context, location string, id wire.ShardID) error {
	return c.json(ctx, http.MethodPost, job.ExecutorPath(location, id)+"/stop", nil, nil)
}

// Remove implements job.API.
func (c *Client) Remove(ctx context.Context, location string, id wire.ShardID) error {
	return c.json(ctx, http.MethodDelete, job.ExecutorPath(location, id), nil, nil)
}

// Logs implements job.API.
func (c *Client) Logs(ctx context.Context, location string, id wire.ShardID) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, job.ExecutorPath(location, id)+"/logs", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Spooled implements job.API.
func (c *Client) Spooled(ctx context.Context, location string, id wire.ShardID) ([]json.RawMessage, error) {
	resp, err := c.send(ctx, http.MethodGet, job.ExecutorPath(location, id)+"/spool", nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	// A spool may hold far more than other answers (its bound is 256 MiB).
	var list job.SpoolList
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<30)).Decode(&list); err != nil {
		return nil, fmt.Errorf("%w: spool of %s: %w", ErrUnexpected, job.ExecutorPath(location, id), err)
	}
	return list.Snapshots, nil
}

func (c *Client) json(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnexpected, method, path, err)
	}
	return nil
}

// send does a request and returns a 2xx response, or the mapped error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil { // a loopback server without tokens takes JSON only
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", backend.ErrUnavailable, method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer func() { _ = resp.Body.Close() }()
	var e httpserver.ErrorBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	switch e.Code {
	case httpserver.CodeInvalidSpec:
		return nil, &job.SpecError{Problems: e.Problems}
	case httpserver.CodeUnknownLocation:
		return nil, fmt.Errorf("%w: %s", job.ErrUnknownLocation, e.Error)
	case httpserver.CodeNotFound:
		return nil, fmt.Errorf("%w: %s", backend.ErrNotFound, e.Error)
	case httpserver.CodeUnavailable:
		return nil, fmt.Errorf("%w: %s", backend.ErrUnavailable, e.Error)
	}
	return nil, fmt.Errorf("%w: %s %s: status %d: %s", ErrUnexpected, method, path, resp.StatusCode, e.Error)
}

var _ job.API = (*Client)(nil)
