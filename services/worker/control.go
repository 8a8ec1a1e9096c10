package worker

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/shardtoken"
)

// ControlRoutes registers the executor API on mux. Any worker can answer
// it: everything it reads and writes is in the store.
func (w *Worker) ControlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+wire.SpecPath, w.serveSpec)
	mux.HandleFunc("POST "+wire.ReadyPath, w.serveReady)
	mux.HandleFunc("GET "+wire.CommandPath, w.serveCommand)
}

func (w *Worker) serveSpec(rw http.ResponseWriter, r *http.Request) {
	run, sh, ok := shardtoken.Authenticate(r.Context(), w.store, rw, r)
	if !ok {
		return
	}
	p, err := parsePlan(run)
	if err != nil {
		httpserver.WriteError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	httpserver.WriteJSON(rw, http.StatusOK, w.specFor(run, p, *sh))
}

func (w *Worker) serveReady(rw http.ResponseWriter, r *http.Request) {
	run, sh, ok := shardtoken.Authenticate(r.Context(), w.store, rw, r)
	if !ok {
		return
	}
	var ready wire.Ready
	if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 64<<10)).Decode(&ready); err != nil {
		httpserver.WriteError(rw, http.StatusBadRequest, "the body is not a ready report: "+err.Error())
		return
	}
	if ready.RunID != run.ID || ready.Shard != sh.Index {
		httpserver.WriteError(rw, http.StatusConflict, "runId or shard differ from the token's shard")
		return
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, err := w.update(r.Context(), run.ID, func(run *store.Run) error {
		sh := &run.Shards[ready.Shard]
		if sh.Token != token { // an earlier attempt: its readiness is moot
			return nil
		}
		now := w.now()
		sh.Ready, sh.ClockOffset, sh.LastSeen = true, ready.ClockOffset, &now
		sh.Tool, sh.ToolVersion = ready.Tool, ready.ToolVersion
		if run.ToolVersions == nil {
			run.ToolVersions = map[string]string{}
		}
		run.ToolVersions[ready.Tool] = ready.ToolVersion
		closeDegraded(run, ready.Shard, now)
		return nil
	})
	if err != nil {
		httpserver.WriteError(rw, http.StatusServiceUnavailable, "cannot record readiness: "+err.Error())
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *Worker) serveCommand(rw http.ResponseWriter, r *http.Request) {
	run, sh, ok := shardtoken.Authenticate(r.Context(), w.store, rw, r)
	if !ok {
		return
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	cmd := wire.Command{ServerTime: w.now(), StartAt: run.StartAt}
	// An executor stops when the run is being stopped or over, and when
	// its attempt was replaced (it was believed lost).
	cmd.Abort = run.AbortWanted || run.State == store.Stopping || run.State.Terminal() || sh.Token != token
	httpserver.WriteJSON(rw, http.StatusOK, cmd)
}
