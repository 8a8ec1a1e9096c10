package native

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/executors/stats"
	"github.com/loadfleet/loadfleet/schemas/wire"
)

// outcome sums every Collect of one or more tools.
type outcome struct {
	arrivals wire.Arrivals
	ok       map[string]int64
	ko       map[string]map[string]int64
	latency  map[string]*hdrhistogram.Histogram
	service  map[string]*hdrhistogram.Histogram
	health   []wire.Health
}

func newOutcome() *outcome {
	return &outcome{ok: map[string]int64{}, ko: map[string]map[string]int64{},
		latency: map[string]*hdrhistogram.Histogram{}, service: map[string]*hdrhistogram.Histogram{}}
}

func (o *outcome) add(t *testing.T, iv runtime.Interval) {
	t.Helper()
	a := &o.arrivals
	a.Planned += iv.Arrivals.Planned
	a.Started += iv.Arrivals.Started
	a.Dropped += iv.Arrivals.Dropped
	a.Interrupted += iv.Arrivals.Interrupted
	a.Completed += iv.Arrivals.Completed
	o.health = append(o.health, iv.Health)
	for _, rs := range iv.Requests {
		o.ok[rs.Name] += rs.OK
		if o.ko[rs.Name] == nil {
			o.ko[rs.Name] = map[string]int64{}
		}
		for k, n := range rs.KO {
			o.ko[rs.Name][k] += n
		}
		for _, h := range []struct {
			into map[string]*hdrhistogram.Histogram
			enc  []byte
		}{{o.latency, rs.Latency}, {o.service, rs.Service}} {
			dec, err := stats.DecodeHistogram(h.enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if h.into[rs.Name] == nil {
				h.into[rs.Name] = dec
			} else {
				h.into[rs.Name].Merge(dec)
			}
		}
	}
}

func (o *outcome) count(name string) int64 {
	n := o.ok[name]
	for _, k := range o.ko[name] {
		n += k
	}
	return n
}

func parsePlan(t testing.TB, format string, args ...any) *wire.ShardSpec {
	t.Helper()
	spec := &wire.ShardSpec{RunID: "test", Shards: 1, Seed: 7}
	if err := json.Unmarshal(fmt.Appendf(nil, format, args...), &spec.Plan); err != nil {
		t.Fatalf("plan: %v", err)
	}
	return spec
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// run prepares and runs one tool per spec (shards of one run) from a start
// instant shortly ahead, collecting every 100 ms as the runtime would.
func run(t *testing.T, specs []*wire.ShardSpec, opts ...Option) *outcome {
	t.Helper()
	var tools []*Tool
	for _, spec := range specs {
		tool := New(logger(), opts...)
		if err := tool.Prepare(context.Background(), spec); err != nil {
			t.Fatalf("prepare: %v", err)
		}
		tools = append(tools, tool)
	}
	out := newOutcome()
	start := time.Now().Add(50 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, tool := range tools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := tool.Run(context.Background(), start); err != nil {
					t.Error(err)
				}
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					mu.Lock()
					out.add(t, tool.Collect())
					mu.Unlock()
				case <-done:
					mu.Lock()
					out.add(t, tool.Collect())
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func okServer(t *testing.T, hits *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

const oneRequest = `{"name": "home", "url": "/"}`

func TestOpenArrivalsSplitExactlyAcrossShards(t *testing.T) {
	var hits atomic.Int64
	srv := okServer(t, &hits)
	var specs []*wire.ShardSpec
	for shard := range 2 {
		spec := parsePlan(t, `{"name": "split", "target": {"baseUrl": %q},
			"scenarios": [{"name": "s", "steps": [{"request": %s}]}],
			"load": {"open": [{"constantUsersPerSec": {"rate": 50, "during": "2s"}}], "gracefulStop": "1s"}}`, srv.URL, oneRequest)
		spec.Shard, spec.Shards = shard, 2
		specs = append(specs, spec)
	}
	out := run(t, specs)
	a := out.arrivals
	if a.Planned != 100 || a.Started != 100 || a.Completed != 100 || a.Dropped != 0 || a.Interrupted != 0 {
		t.Errorf("arrivals %+v, want exactly 100 planned, started and completed", a)
	}
	if hits.Load() != 100 || out.ok["home"] != 100 {
		t.Errorf("server saw %d requests, %d recorded ok", hits.Load(), out.ok["home"])
	}
}

func TestMaxConcurrentSessionsDropsInsteadOfDelaying(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	spec := parsePlan(t, `{"name": "cap", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [{"request": %s}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 100, "during": "1s"}}], "maxConcurrentSessions": 10, "gracefulStop": "2s"}}`, srv.URL, oneRequest)
	out := run(t, []*wire.ShardSpec{spec})
	a := out.arrivals
	if a.Planned != 100 || a.Started+a.Dropped != 100 {
		t.Fatalf("arrivals %+v: every planned arrival is started or dropped", a)
	}
	// 10 slots held 300 ms each over 1 s: about 40 sessions fit.
	if a.Started < 30 || a.Started > 50 || a.Completed != a.Started {
		t.Errorf("arrivals %+v, want ~40 started", a)
	}
	// Started sessions were not delayed: latency stays near the 300 ms hold.
	if p := out.latency["home"].ValueAtQuantile(100); p > 450_000 {
		t.Errorf("max latency %d µs: an arrival waited for a slot", p)
	}
	var peakDropped int64
	for _, h := range out.health {
		peakDropped = max(peakDropped, h.DroppedArrivals)
	}
	if peakDropped != a.Dropped {
		t.Errorf("health reports %d dropped, arrivals %d", peakDropped, a.Dropped)
	}
}

func TestGracefulStop(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hold, _ := time.ParseDuration(r.URL.Query().Get("hold"))
		select {
		case <-time.After(hold):
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	tests := []struct {
		why                    string
		hold, grace            string
		completed, interrupted int64
	}{
		{"sessions that finish within gracefulStop complete", "100ms", "1s", 5, 0},
		{"sessions still running after gracefulStop are cut", "10s", "200ms", 0, 5},
	}
	for _, tt := range tests {
		spec := parsePlan(t, `{"name": "grace", "target": {"baseUrl": %q},
			"scenarios": [{"name": "s", "steps": [{"request": {"name": "held", "url": "/?hold=%s"}}]}],
			"load": {"open": [{"atOnceUsers": {"users": 5}}], "gracefulStop": %q}}`, srv.URL, tt.hold, tt.grace)
		began := time.Now()
		out := run(t, []*wire.ShardSpec{spec})
		a := out.arrivals
		if a.Started != 5 || a.Completed != tt.completed || a.Interrupted != tt.interrupted {
			t.Errorf("%s: arrivals %+v", tt.why, a)
		}
		if tt.interrupted > 0 {
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("%s: the run took %v, gracefulStop is %s", tt.why, took, tt.grace)
			}
			if n := out.count("held"); n != 0 {
				t.Errorf("%s: %d cut requests were recorded as failures of the target", tt.why, n)
			}
		}
	}
}

func TestClosedUsersFollowTheTimeline(t *testing.T) {
	var hits atomic.Int64
	srv := okServer(t, &hits)
	// 0 → 4 users over 1 s, 4 for 1 s, then 2 for 1 s; each session is a
	// request and a 50 ms pause, so a user is nearly always in a session.
	var specs []*wire.ShardSpec
	for shard := range 2 {
		spec := parsePlan(t, `{"name": "closed", "target": {"baseUrl": %q},
			"scenarios": [{"name": "s", "steps": [{"request": %s}, {"pause": {"duration": "50ms"}}]}],
			"load": {"closed": [{"rampConcurrentUsers": {"from": 0, "to": 4, "during": "1s"}},
				{"constantConcurrentUsers": {"users": 4, "during": "1s"}},
				{"constantConcurrentUsers": {"users": 2, "during": "1s"}}], "gracefulStop": "1s"}}`, srv.URL, oneRequest)
		spec.Shard, spec.Shards = shard, 2
		specs = append(specs, spec)
	}
	tools := make([]*Tool, 2)
	for i, spec := range specs {
		tools[i] = New(logger())
		if err := tools[i].Prepare(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(20 * time.Millisecond)
	var wg sync.WaitGroup
	for _, tool := range tools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = tool.Run(context.Background(), start)
		}()
	}
	active := func() int64 {
		var n int64
		for _, tool := range tools {
			n += tool.Collect().Health.ActiveSessions
		}
		return n
	}
	for _, probe := range []struct {
		at   time.Duration
		want int64
	}{{100 * time.Millisecond, 0}, {1500 * time.Millisecond, 4}, {2500 * time.Millisecond, 2}} {
		time.Sleep(time.Until(start.Add(probe.at)))
		if got := active(); got != probe.want {
			t.Errorf("at %v: %d active sessions, want %d", probe.at, got, probe.want)
		}
	}
	wg.Wait()
	if got := active(); got != 0 {
		t.Errorf("%d sessions active after the run", got)
	}
	// Users ran back to back at about 19 sessions/s each: the ramp holds
	// 0, 1, 2, 3 users for 250 ms each (1.5 user·s), then 4 user·s, then
	// 2 user·s: about 7.5 user·s × 19 ≈ 140 sessions.
	if n := hits.Load(); n < 120 || n > 160 {
		t.Errorf("%d requests, want about 140", n)
	}
}

// TestStallShowsInLatencyNotInServiceTime is the coordinated-omission test.
// 200 sessions/s for 5 s share ONE keep-alive connection (like a browser's
// per-host limit, and like a closed-loop tool whose next request waits for
// the previous response). 2 s in, the server holds one request for 1 s.
// Every arrival of that second queues behind it for the connection: its
// intended instant has passed, so its latency (from the intended start)
// grows up to 1 s, but once it is on the wire it is served in well under a
// millisecond, so its service time (from the actual send) stays small. A
// tool that measured from the actual send would report the stall as one
// slow request out of 1000: p99 would not show it. We must show it.
func TestStallShowsInLatencyNotInServiceTime(t *testing.T) {
	var begin atomic.Int64
	var stalled atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin.CompareAndSwap(0, time.Now().UnixNano())
		if time.Since(time.Unix(0, begin.Load())) > 2*time.Second && stalled.CompareAndSwap(false, true) {
			time.Sleep(time.Second)
		}
	}))
	defer srv.Close()
	spec := parsePlan(t, `{"name": "stall", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [{"request": %s}]}],
		"load": {"open": [{"constantUsersPerSec": {"rate": 200, "during": "5s"}}], "gracefulStop": "3s"}}`, srv.URL, oneRequest)
	out := run(t, []*wire.ShardSpec{spec}, WithMaxConnsPerHost(1))
	if out.ok["home"] != 1000 {
		t.Fatalf("ok %d ko %v, want 1000 ok", out.ok["home"], out.ko["home"])
	}
	lat, svc := out.latency["home"], out.service["home"]
	if p99 := lat.ValueAtQuantile(99); p99 < 800_000 {
		t.Errorf("latency p99 %d µs: the stall is hidden", p99)
	}
	if p99 := svc.ValueAtQuantile(99); p99 > 50_000 {
		t.Errorf("service p99 %d µs: queueing leaked into service time", p99)
	}
	if max := svc.Max(); max < 950_000 {
		t.Errorf("service max %d µs: the stalled request itself took 1 s", max)
	}
}

func TestScenarioChecksExtractionFeederAndCookies(t *testing.T) {
	var mu sync.Mutex
	logins := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			var body struct{ User, Session string }
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			logins[body.User]++
			mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-" + body.User})
			w.Header().Set("X-Token", "t-"+body.User)
			fmt.Fprintf(w, `{"user": {"name": %q, "id": 7}}`, body.User)
		case "/me":
			c, _ := r.Cookie("sid")
			if c == nil || r.Header.Get("Authorization") != "Bearer t-"+strings.TrimPrefix(c.Value, "s-") || r.URL.Query().Get("id") != "7" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, "hello %s", strings.TrimPrefix(c.Value, "s-"))
		case "/boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte("user\nann\nbob\ncid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := parsePlan(t, `{"name": "journey", "target": {"baseUrl": %q, "headers": {"Accept": "application/json"}},
		"scenarios": [{"name": "s", "feeder": {"file": "users.csv", "strategy": "queue"}, "steps": [
			{"request": {"name": "login", "method": "POST", "url": "/login",
				"body": {"json": {"user": "${user}", "session": "${session()}"}},
				"checks": [{"status": [200]}, {"jsonPath": {"path": "$.user.name", "regex": "^[a-z]+$"}}],
				"extract": [{"var": "token", "header": "X-Token"}, {"var": "id", "jsonPath": "$.user.id"}]}},
			{"request": {"name": "me", "url": "/me?id=${id}", "headers": {"Authorization": "Bearer ${token}"},
				"checks": [{"body": {"contains": "hello"}}]}},
			{"request": {"name": "wrong", "url": "/me", "checks": [{"body": {"equals": "nope"}}], "extract": [{"var": "x", "regex": "(z+)"}]}},
			{"request": {"name": "boom", "url": "/boom"}},
			{"request": {"name": "unset", "url": "/me/${never}"}}]}],
		"load": {"open": [{"atOnceUsers": {"users": 5}}], "gracefulStop": "5s"}}`, srv.URL)
	spec.Dir = dir
	out := run(t, []*wire.ShardSpec{spec})
	if a := out.arrivals; a.Planned != 5 || a.Started != 3 || a.Dropped != 2 || a.Completed != 3 {
		t.Errorf("arrivals %+v: a queue of 3 records starts 3 sessions and drops 2", a)
	}
	if len(logins) != 3 || logins["ann"] != 1 || logins["bob"] != 1 || logins["cid"] != 1 {
		t.Errorf("logins %v: each record is used once", logins)
	}
	for _, tt := range []struct {
		name   string
		ok     int64
		reason string
	}{
		{"login", 3, ""},
		{"me", 3, ""},              // cookie, extracted header and JSON value all made it
		{"wrong", 0, "status_4xx"}, // without a status check, 401 fails by its class
		{"boom", 0, "status_5xx"},  //
		{"unset", 0, "error"},      // an unknown variable fails the request
	} {
		if out.ok[tt.name] != tt.ok || tt.reason != "" && out.ko[tt.name][tt.reason] != 3 {
			t.Errorf("%s: ok %d ko %v", tt.name, out.ok[tt.name], out.ko[tt.name])
		}
	}
}

func TestFailedCheckAndExtractionCountAsCheckFailed(t *testing.T) {
	var hits atomic.Int64
	srv := okServer(t, &hits)
	spec := parsePlan(t, `{"name": "checks", "target": {"baseUrl": %q},
		"scenarios": [{"name": "s", "steps": [
			{"request": {"name": "body", "url": "/", "checks": [{"body": {"equals": "ko"}}]}},
			{"request": {"name": "status", "url": "/", "checks": [{"status": [201]}]}},
			{"request": {"name": "extract", "url": "/", "extract": [{"var": "v", "jsonPath": "$.missing"}]}},
			{"request": {"name": "header", "url": "/", "checks": [{"header": {"name": "content-type", "contains": "text/plain"}}]}}]}],
		"load": {"open": [{"atOnceUsers": {"users": 2}}]}}`, srv.URL)
	out := run(t, []*wire.ShardSpec{spec})
	for _, name := range []string{"body", "status", "extract"} {
		if out.ko[name]["check_failed"] != 2 || out.ok[name] != 0 {
			t.Errorf("%s: ok %d ko %v", name, out.ok[name], out.ko[name])
		}
	}
	if out.ok["header"] != 2 {
		t.Errorf("header check (case-insensitive name): ok %d ko %v", out.ok["header"], out.ko["header"])
	}
}

func TestProtocolsAndFailureReasons(t *testing.T) {
	proto := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) }
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(proto))
	defer tlsSrv.Close()
	h2Srv := httptest.NewUnstartedServer(http.HandlerFunc(proto))
	h2Srv.EnableHTTP2 = true
	h2Srv.StartTLS()
	defer h2Srv.Close()
	h2cSrv := httptest.NewUnstartedServer(http.HandlerFunc(proto))
	h2cSrv.Config.Protocols = new(http.Protocols)
	h2cSrv.Config.Protocols.SetUnencryptedHTTP2(true)
	h2cSrv.Start()
	defer h2cSrv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		why, baseURL, target, body string
		ok                         int64
		reason                     string
	}{
		{"https with insecureSkipVerify", tlsSrv.URL, `"tls": {"insecureSkipVerify": true}`, "HTTP/1.1", 4, ""},
		{"a self-signed certificate is refused by default", tlsSrv.URL, `"timeout": "2s"`, "", 0, "error"},
		{"HTTP/2 over TLS", h2Srv.URL, `"httpVersion": "2", "tls": {"insecureSkipVerify": true}`, "HTTP/2.0", 4, ""},
		{"h2c", h2cSrv.URL, `"httpVersion": "2"`, "HTTP/2.0", 4, ""},
		{"nothing listens", refused, `"timeout": "2s"`, "", 0, "connection_refused"},
	}
	for _, tt := range tests {
		spec := parsePlan(t, `{"name": "proto", "target": {"baseUrl": %q, %s},
			"scenarios": [{"name": "s", "steps": [{"request": {"name": "r", "url": "/", "checks": [{"body": {"equals": %q}}]}}]}],
			"load": {"open": [{"rampUsers": {"users": 4, "during": "200ms"}}], "gracefulStop": "3s"}}`, tt.baseURL, tt.target, tt.body)
		out := run(t, []*wire.ShardSpec{spec})
		if out.ok["r"] != tt.ok || tt.reason != "" && out.ko["r"][tt.reason] != 4 {
			t.Errorf("%s: ok %d ko %v", tt.why, out.ok["r"], out.ko["r"])
		}
	}
}
