// Package validatorclient is the HTTP client of the validator service: a
// validator.Validator that validates plans on a remote loadfleet server.
package validatorclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/validator"
)

// Sentinels of this package.
var (
	// ErrLocalOption means Options asked for something only an in-process
	// validator can do (Dir, Offline): the server cannot read the caller's
	// files, and fetching is its own policy.
	ErrLocalOption = errors.New("option not supported by a remote validator")
	// ErrUnexpectedStatus means the server answered with a status that is
	// not a validation outcome (5xx, 404, ...).
	ErrUnexpectedStatus = errors.New("unexpected response from the validator")
)

// maxResponseBytes bounds what the client reads of a response. An
// explanation lists every step and shard, so it is larger than the plan.
const maxResponseBytes = 16 << 20

// Client validates plans through a validator's HTTP API. It is safe for
// concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	// parser compiles the plan schema once, on first use.
	parser func() (*plan.Parser, error)
}

// New returns a client of the server at baseURL ("http://127.0.0.1:8080").
// A nil httpClient means http.DefaultClient; give one with a timeout for
// production use.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{endpoint: strings.TrimRight(baseURL, "/") + validator.ValidatePath, http: httpClient,
		parser: sync.OnceValues(plan.NewParser)}
}

// Validate sends the plan to the server. The result is the server's, with
// the Reason recovered from the status. Result.Plan is parsed locally from
// data once the server accepted it, so callers get the same Result from
// both implementations.
func (c *Client) Validate(ctx context.Context, data []byte, opts validator.Options) (*validator.Result, error) {
	if opts.Dir != nil || opts.Offline {
		return nil, ErrLocalOption
	}
	endpoint := c.endpoint
	if opts.ForRun {
		endpoint += "?forRun=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("validate: read the response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e httpserver.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Code == httpserver.CodeBusy {
			return nil, fmt.Errorf("validate: %w", validator.ErrBusy) // callers answer 503 in turn
		}
	}
	var r validator.Response
	if err := json.Unmarshal(body, &r); err != nil {
		if resp.StatusCode/100 != 2 {
			return nil, unexpected(resp.StatusCode, body)
		}
		return nil, fmt.Errorf("%w: status %d with a body that is not a validation response: %w",
			ErrUnexpectedStatus, resp.StatusCode, err)
	}
	reason, ok := reasonOf(resp.StatusCode, r.Code)
	if !ok || (reason != validator.ReasonValid && len(r.Problems) == 0) {
		// An answer about the request itself (an unreadable body, no
		// validator at that address), not the plan.
		return nil, unexpected(resp.StatusCode, body)
	}
	res := &validator.Result{Valid: r.Valid && reason == validator.ReasonValid, Reason: reason,
		Problems: r.Problems, Explain: r.Explain, Source: r.Source, Notes: r.Notes}
	if res.Valid {
		parser, err := c.parser()
		if err != nil {
			return nil, fmt.Errorf("validate: %w", err)
		}
		if res.Plan, err = parser.Parse(data); err != nil {
			return nil, fmt.Errorf("validate: the server accepted a plan that does not parse here: %w", err)
		}
	}
	return res, nil
}

// reasonOf maps an answer back to its reason by its code (the inverse of
// the server's mapping): a 200 is valid, a refusal names its code.
func reasonOf(status int, code string) (validator.Reason, bool) {
	switch {
	case status == http.StatusOK:
		return validator.ReasonValid, true
	case code == httpserver.CodeSyntax:
		return validator.ReasonSyntax, true
	case code == httpserver.CodeTooLarge:
		return validator.ReasonTooLarge, true
	case code == httpserver.CodeInvalidPlan:
		return validator.ReasonInvalid, true
	}
	return "", false
}

func unexpected(status int, body []byte) error {
	var e httpserver.ErrorBody
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return fmt.Errorf("%w: status %d: %s", ErrUnexpectedStatus, status, msg)
}

var _ validator.Validator = (*Client)(nil)
