// Package influx stores and reads a run's series in InfluxDB through
// influxdb-client-go/v2: InfluxDB 2.x in production, and InfluxDB 1.8 (its
// v2-compatible write API and Flux reads) in tests. The Sink buffers in
// memory and retries, so that an InfluxDB outage of minutes loses nothing;
// the Reader queries with Flux.
package influx

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Sentinels.
var (
	// ErrConfig is a Config that cannot work.
	ErrConfig = errors.New("influx: invalid config")
	// ErrBufferFull rejects a Write: InfluxDB has not taken the buffered
	// points for so long that BufferLimit is reached. The rejected batch is
	// not stored.
	ErrBufferFull = errors.New("influx: write buffer full, batch rejected")
	// ErrDropped reports points that were given up: InfluxDB refused them
	// (a 4xx answer) or they stayed unwritten longer than MaxRetryTime.
	ErrDropped = errors.New("influx: points dropped")
	// ErrClosed is returned by calls on a closed Sink.
	ErrClosed = errors.New("influx: sink closed")
)

// Config says where the series go and how writes are buffered.
type Config struct {
	// URL of InfluxDB, e.g. http://127.0.0.1:8086.
	URL string `json:"url"`
	// Token is an InfluxDB 2 API token; for InfluxDB 1.8, "user:password"
	// or empty when authentication is off.
	Token string `json:"token,omitempty"`
	// Org is the InfluxDB 2 organization; empty for InfluxDB 1.8.
	Org string `json:"org,omitempty"`
	// Bucket is the InfluxDB 2 bucket; for InfluxDB 1.8,
	// "database/retention-policy" (e.g. "loadfleet/autogen").
	Bucket string `json:"bucket"`
	// CreateV1Database issues CREATE DATABASE for Bucket's database at
	// start. InfluxDB 1.x only: InfluxDB 2 buckets are created by its own
	// setup, and it has no such statement.
	CreateV1Database bool `json:"createV1Database,omitempty"`

	// BatchSize is the most lines one write request carries (default 1000).
	BatchSize int `json:"batchSize,omitempty"`
	// FlushInterval is how long lines may wait for a fuller batch
	// (default 1s).
	FlushInterval time.Duration `json:"flushInterval,omitempty"`
	// BufferLimit is the most lines (InfluxDB points) held unwritten
	// (default 200000: at 50 lines a second, more than an hour). Beyond
	// it Write fails with ErrBufferFull.
	BufferLimit int `json:"bufferLimit,omitempty"`
	// MaxRetryTime is how long a batch is retried before it is given up
	// with ErrDropped (default 15m).
	MaxRetryTime time.Duration `json:"maxRetryTime,omitempty"`
	// RetryInterval and MaxRetryInterval bound the exponential backoff
	// between attempts (defaults 250ms and 5s).
	RetryInterval    time.Duration `json:"retryInterval,omitempty"`
	MaxRetryInterval time.Duration `json:"maxRetryInterval,omitempty"`
	// WriteTimeout bounds one HTTP request (default 10s, whole seconds).
	WriteTimeout time.Duration `json:"writeTimeout,omitempty"`
	// CloseTimeout is how long Close keeps trying to store what is
	// buffered (default 10s).
	CloseTimeout time.Duration `json:"closeTimeout,omitempty"`
}

func (c Config) withDefaults() Config {
	setDefault(&c.BatchSize, 1000)
	setDefault(&c.FlushInterval, time.Second)
	setDefault(&c.BufferLimit, 200_000)
	setDefault(&c.MaxRetryTime, 15*time.Minute)
	setDefault(&c.RetryInterval, 250*time.Millisecond)
	setDefault(&c.MaxRetryInterval, 5*time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.CloseTimeout, 10*time.Second)
	return c
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// validate lists every problem at once.
func (c Config) validate() error {
	var problems []string
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("url %q is not an http(s) URL", c.URL))
	}
	if c.Bucket == "" {
		problems = append(problems, "bucket is empty")
	}
	if c.CreateV1Database && v1Database(c.Bucket) == "" {
		problems = append(problems, "createV1Database needs a bucket \"database/retention\"")
	}
	for name, v := range map[string]int{"batchSize": c.BatchSize, "bufferLimit": c.BufferLimit} {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("%s %d is negative", name, v))
		}
	}
	if c.BufferLimit > 0 && c.BatchSize > c.BufferLimit {
		problems = append(problems, fmt.Sprintf("batchSize %d exceeds bufferLimit %d", c.BatchSize, c.BufferLimit))
	}
	for name, v := range map[string]time.Duration{
		"flushInterval": c.FlushInterval, "maxRetryTime": c.MaxRetryTime, "retryInterval": c.RetryInterval,
		"maxRetryInterval": c.MaxRetryInterval, "writeTimeout": c.WriteTimeout, "closeTimeout": c.CloseTimeout,
	} {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("%s %s is negative", name, v))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
}

// v1Database is the database part of an InfluxDB 1.x bucket "db/rp".
func v1Database(bucket string) string {
	db, _, _ := strings.Cut(bucket, "/")
	return db
}
