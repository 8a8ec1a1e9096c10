// Package metadataclient is the metadata service's HTTP client: the
// metadata.API of a remote service, with the same errors as the service in
// process.
package metadataclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/validator"
)

// ErrUnexpected is an answer the client cannot map to a service error.
var ErrUnexpected = errors.New("unexpected answer from the metadata service")

// ErrUnauthorized is the server refusing the API token, or asking for one.
var ErrUnauthorized = errors.New("the server refused the request")

const maxResponseBytes = 64 << 20

// Client is a metadata.API over HTTP. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
	// Token, when set, is sent as a bearer token.
	token string
}

// New returns a client of the service at baseURL. A nil httpClient means one
// with a 30 s timeout.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient, token: token}
}

// CreateTest implements metadata.API.
func (c *Client) CreateTest(ctx context.Context, id string, planDoc []byte) (store.Test, error) {
	path := metadata.TestsPath
	if id != "" {
		path += "/" + url.PathEscape(id) + "/versions"
	}
	var t store.Test
	return t, c.do(ctx, http.MethodPost, path, nil, planDoc, &t)
}

// Tests implements metadata.API.
func (c *Client) Tests(ctx context.Context, f store.TestFilter) ([]store.Test, error) {
	q := url.Values{}
	set(q, "team", f.Team)
	set(q, "project", f.Project)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var list metadata.TestList
	return list.Tests, c.do(ctx, http.MethodGet, metadata.TestsPath, q, nil, &list)
}

// Test implements metadata.API.
func (c *Client) Test(ctx context.Context, id string, version int) (store.Test, error) {
	q := url.Values{}
	if version > 0 {
		q.Set("version", strconv.Itoa(version))
	}
	var t store.Test
	return t, c.do(ctx, http.MethodGet, metadata.TestsPath+"/"+url.PathEscape(id), q, nil, &t)
}

// StartRun implements metadata.API.
func (c *Client) StartRun(ctx context.Context, req metadata.StartRequest) (store.Run, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return store.Run{}, fmt.Errorf("encode the start request: %w", err)
	}
	var r store.Run
	return r, c.do(ctx, http.MethodPost, metadata.RunsPath, nil, body, &r)
}

// Runs implements metadata.API.
func (c *Client) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	q := url.Values{}
	set(q, "team", f.Team)
	set(q, "project", f.Project)
	if len(f.States) > 0 {
		names := make([]string, len(f.States))
		for i, s := range f.States {
			names[i] = string(s)
		}
		q.Set("state", strings.Join(names, ","))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var list metadata.RunList
	return list.Runs, c.do(ctx, http.MethodGet, metadata.RunsPath, q, nil, &list)
}

// Run implements metadata.API.
func (c *Client) Run(ctx context.Context, id string) (store.Run, error) {
	var r store.Run
	return r, c.do(ctx, http.MethodGet, metadata.RunsPath+"/"+url.PathEscape(id), nil, nil, &r)
}

// AbortRun implements metadata.API.
func (c *Client) AbortRun(ctx context.Context, id, reason string) (store.Run, error) {
	body, _ := json.Marshal(metadata.AbortRequest{Reason: reason})
	var r store.Run
	return r, c.do(ctx, http.MethodPost, metadata.RunsPath+"/"+url.PathEscape(id)+"/abort", nil, body, &r)
}

// PutTeam implements metadata.API.
func (c *Client) PutTeam(ctx context.Context, t store.Team) (store.Team, error) {
	body, err := json.Marshal(t)
	if err != nil {
		return store.Team{}, fmt.Errorf("encode the team: %w", err)
	}
	var out store.Team
	return out, c.do(ctx, http.MethodPut, metadata.TeamsPath+"/"+url.PathEscape(t.Name), nil, body, &out)
}

// Team implements metadata.API.
func (c *Client) Team(ctx context.Context, name string) (store.Team, error) {
	var out store.Team
	return out, c.do(ctx, http.MethodGet, metadata.TeamsPath+"/"+url.PathEscape(name), nil, nil, &out)
}

// Report implements metadata.API.
func (c *Client) Report(ctx context.Context, runID string) (json.RawMessage, error) {
	var doc json.RawMessage
	return doc, c.do(ctx, http.MethodGet, metadata.RunsPath+"/"+url.PathEscape(runID)+"/report", nil, nil, &doc)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return errorOf(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnexpected, method, path, err)
	}
	return nil
}

// errorOf maps an error answer back to the service's error by its code
// (the inverse of metadata.Errors); 401 and 403 come from the server's
// credential check, before any handler.
func errorOf(status int, data []byte) error {
	var body httpserver.ErrorBody
	if err := json.Unmarshal(data, &body); err != nil || body.Error == "" {
		return fmt.Errorf("%w: status %d: %.200s", ErrUnexpected, status, data)
	}
	switch body.Code {
	case httpserver.CodeUnauthorized, httpserver.CodeForbidden:
		return fmt.Errorf("%w: %s", ErrUnauthorized, body.Error)
	case httpserver.CodeInvalidPlan, httpserver.CodeSyntax, httpserver.CodeTooLarge:
		kind := map[string]error{httpserver.CodeInvalidPlan: plan.ErrInvalid, httpserver.CodeSyntax: plan.ErrSyntax,
			httpserver.CodeTooLarge: plan.ErrTooLarge}[body.Code]
		if len(body.Problems) == 0 {
			body.Problems = []plan.Problem{{Message: body.Error}}
		}
		return &plan.ValidationError{Kind: kind, Problems: body.Problems}
	case httpserver.CodeBadRequest:
		return &plan.ValidationError{Kind: plan.ErrInvalid, Problems: []plan.Problem{{Message: body.Error}}}
	case httpserver.CodeBusy:
		return fmt.Errorf("%w: %s", validator.ErrBusy, body.Error)
	case httpserver.CodeNotFound:
		return fmt.Errorf("%w: %s", store.ErrNotFound, body.Error)
	case httpserver.CodeIllegalTransition:
		return fmt.Errorf("%w: %s", store.ErrIllegalTransition, body.Error)
	case httpserver.CodeConflict:
		return fmt.Errorf("%w: %s", store.ErrConflict, body.Error)
	}
	return fmt.Errorf("%w: status %d: %s", ErrUnexpected, status, body.Error)
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

var _ metadata.API = (*Client)(nil)
