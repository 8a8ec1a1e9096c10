package runtime

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
)

// ErrControl is returned when the control plane answers with an error.
var ErrControl = errors.New("control plane error")

// ControlClient speaks the executor API of the control plane. It is safe for
// concurrent use.
type ControlClient struct {
	baseURL string
	token   string
	http    *http.Client
}

// NewControlClient returns a client of the executor API at baseURL that
// authenticates with the shard's token. A nil httpClient means a default
// client with a 10 s timeout.
func NewControlClient(baseURL, token string, httpClient *http.Client) *ControlClient {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &ControlClient{baseURL: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// Spec fetches the shard spec the token stands for.
func (c *ControlClient) Spec(ctx context.Context) (*wire.ShardSpec, error) {
	var spec wire.ShardSpec
	if err := c.do(ctx, http.MethodGet, wire.SpecPath, nil, &spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

// Ready reports that the shard can start.
func (c *ControlClient) Ready(ctx context.Context, r wire.Ready) error {
	return c.do(ctx, http.MethodPost, wire.ReadyPath, r, nil)
}

// Command polls for the start instant or an abort. The sample times the
// round trip for the clock offset.
func (c *ControlClient) Command(ctx context.Context) (wire.Command, ClockSample, error) {
	var cmd wire.Command
	sent := time.Now()
	err := c.do(ctx, http.MethodGet, wire.CommandPath, nil, &cmd)
	sample := ClockSample{Sent: sent, Received: time.Now(), Server: cmd.ServerTime}
	return cmd, sample, err
}

func (c *ControlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%w: %s %s: %s: %s", ErrControl, method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}
