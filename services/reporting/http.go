package reporting

import (
	"compress/gzip"
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
	"github.com/loadfleet/loadfleet/services/reporting/link"
	"github.com/loadfleet/loadfleet/services/reporting/report"
	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// Paths of the reporting API (see openapi.yaml).
const (
	// ProgressPath and FinishPath take a run ID; SeriesPath too.
	ProgressPath = "/v1/reporting/runs/{id}/progress"
	FinishPath   = "/v1/reporting/runs/{id}/finish"
	// CollectPath takes what executors left in their spools (Collect), in
	// batches of at most 100, as the ingest does.
	CollectPath = "/v1/reporting/runs/{id}/collect"
	SeriesPath  = "/v1/runs/{id}/series"
)

// Limits of an ingest request: at most maxBatch snapshots, maxBody bytes
// compressed and maxInflated once decompressed (a gzip bomb stops there).
const (
	maxBatch    = 100
	maxBody     = 8 << 20
	maxInflated = 64 << 20
)

// CollectBody is the answer of CollectPath.
type CollectBody struct {
	Collected int `json:"collected"`
}

// VerdictBody is the answer of FinishPath.
type VerdictBody struct {
	Verdict Verdict `json:"verdict"`
}

// Routes registers the reporting API on mux.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.IngestPath, s.serveIngest)
	ProgressRoute(mux, s.Progress)
	mux.HandleFunc("POST "+FinishPath, func(w http.ResponseWriter, r *http.Request) {
		v, err := s.Finish(r.Context(), r.PathValue("id"))
		reply(w, VerdictBody{Verdict: v}, err)
	})
	mux.HandleFunc("POST "+CollectPath, func(w http.ResponseWriter, r *http.Request) {
		snaps, status, err := decodeBatch(r, w)
		if err != nil {
			httpserver.WriteError(w, status, err.Error())
			return
		}
		reply(w, CollectBody{Collected: len(snaps)}, s.Collect(r.Context(), r.PathValue("id"), snaps))
	})
	mux.HandleFunc("GET "+SeriesPath, s.serveSeries)
	mux.Handle("GET "+ReportHTMLPath, s.reportHTMLHandler())
}

// ProgressRoute serves a run's live progress from progress: the reporting
// service's own, or, on a metadata target, the remote reporting's, so that
// the CLI follows a run through the one address it knows.
func ProgressRoute(mux *http.ServeMux, progress func(ctx context.Context, runID string) (Progress, error)) {
	mux.HandleFunc("GET "+ProgressPath, func(w http.ResponseWriter, r *http.Request) {
		p, err := progress(r.Context(), r.PathValue("id"))
		reply(w, p, err)
	})
}

func (s *Service) serveIngest(w http.ResponseWriter, r *http.Request) {
	run, shard, ok := shardtoken.Authenticate(r.Context(), s.store, w, r)
	if !ok {
		return
	}
	snaps, status, err := decodeBatch(r, w)
	if err != nil {
		httpserver.WriteError(w, status, err.Error())
		return
	}
	for _, snap := range snaps {
		if snap.RunID != run.ID || snap.Shard != shard.Index {
			httpserver.WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"snapshot %d is for run %s shard %d, the token is for run %s shard %d",
				snap.Seq, snap.RunID, snap.Shard, run.ID, shard.Index))
			return
		}
	}
	acked, err := s.ingest(r.Context(), run, snaps)
	if err != nil {
		reply(w, nil, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, wire.Ack{Acked: acked})
}

// decodeBatch reads a JSON array of snapshots, gzip or not.
func decodeBatch(r *http.Request, w http.ResponseWriter) ([]wire.Snapshot, int, error) {
	body := io.Reader(http.MaxBytesReader(w, r.Body, maxBody))
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		body = io.LimitReader(zr, maxInflated+1)
	case "", "identity":
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content encoding %q is not supported (gzip or identity)", enc)
	}
	data, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || len(data) > maxInflated:
		return nil, http.StatusRequestEntityTooLarge, errors.New("batch too large")
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("read the body: %w", err)
	}
	var snaps []wire.Snapshot
	if err := json.Unmarshal(data, &snaps); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("the body is not an array of snapshots: %w", err)
	}
	if len(snaps) > maxBatch {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%d snapshots in one batch; at most %d", len(snaps), maxBatch)
	}
	return snaps, http.StatusOK, nil
}

func (s *Service) serveSeries(w http.ResponseWriter, r *http.Request) {
	q := series.Query{RunID: r.PathValue("id")}
	if reqs := r.URL.Query()["request"]; len(reqs) > 0 {
		q.Requests = reqs
	}
	for key, to := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := r.URL.Query().Get(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				httpserver.WriteError(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not an RFC 3339 time", key, v))
				return
			}
			*to = t
		}
	}
	points, err := s.reader.Points(r.Context(), q)
	if err != nil {
		reply(w, nil, err)
		return
	}
	execs, err := s.reader.ExecutorPoints(r.Context(), q)
	if points == nil {
		points = []series.Point{}
	}
	reply(w, series.Batch{Points: points, Executors: execs}, err)
}

// Errors is the reporting API's error table: the one place where the
// reporting service's errors become statuses, and the codes
// reportingclient maps back. An error it does not name is a 500.
func Errors() httpserver.Errors {
	return httpserver.Errors{
		{Err: store.ErrNotFound, Status: http.StatusNotFound, Code: httpserver.CodeNotFound},
		{Err: ErrInvalidSnapshot, Status: http.StatusBadRequest, Code: httpserver.CodeBadRequest},
		{Err: ErrRunEnded, Status: http.StatusConflict, Code: httpserver.CodeRunEnded},
	}
}

// reply writes v or the error, as Errors says.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		Errors().Write(w, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, v)
}

// ReportHTMLPath serves a run's HTML report (what notification links
// point at).
const ReportHTMLPath = "/v1/reports/{file}"

// reportHTMLHandler serves the HTML reports. The route is open in the API's
// check (app's accessOf) because a link in a message must open in a
// browser, which sends no token; this handler is its guard instead: a
// request with a link signature opens the report while the signature is
// valid and unexpired, one without needs an API token like every other
// /v1 route (cfg.Links.RequireToken).
func (s *Service) reportHTMLHandler() http.Handler {
	withToken := http.Handler(http.HandlerFunc(s.serveReportHTML))
	if s.cfg.Links.RequireToken != nil {
		withToken = s.cfg.Links.RequireToken(withToken)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runID, _ := strings.CutSuffix(r.PathValue("file"), ".html")
		exp, err := s.links.Check(runID, r.URL.Query(), time.Now())
		switch {
		case errors.Is(err, link.ErrUnsigned):
			withToken.ServeHTTP(w, r)
		case s.cfg.Links.Disabled:
			httpserver.WriteError(w, http.StatusNotFound,
				"open report links are disabled on this server (reports.publicLinks: false): open the report with an API token")
		case errors.Is(err, link.ErrExpired):
			httpserver.WriteError(w, http.StatusGone, fmt.Sprintf(
				"this report link expired at %s (links last %s): ask for a new link, or open the report with an API token",
				exp.Format(time.RFC3339), s.links.TTL()))
		case err != nil:
			httpserver.WriteError(w, http.StatusForbidden, "this report link is not valid: "+err.Error())
		default:
			s.serveReportHTML(w, r)
		}
	})
}

// ReportURL is the link to a run's HTML report under base: signed for the
// link TTL from now, or plain when open links are disabled.
func (s *Service) ReportURL(base, runID string, now time.Time) string {
	u := strings.TrimRight(base, "/") + "/v1/reports/" + url.PathEscape(runID) + ".html"
	if s.cfg.Links.Disabled {
		return u
	}
	return u + "?" + s.links.Sign(runID, now).Encode()
}

func (s *Service) serveReportHTML(w http.ResponseWriter, r *http.Request) {
	runID, ok := strings.CutSuffix(r.PathValue("file"), ".html")
	if !ok {
		httpserver.WriteError(w, http.StatusNotFound, "reports are served as RUN.html")
		return
	}
	raw, err := s.store.Report(r.Context(), runID)
	if err != nil {
		reply(w, nil, err)
		return
	}
	var doc report.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		reply(w, nil, fmt.Errorf("the stored report does not parse: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Nothing between this page and the reader keeps a copy: the link may
	// expire, and the page is the run's.
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := report.HTML(w, &doc); err != nil {
		s.logger.Error("rendering a report", "run", runID, "err", err)
	}
}
