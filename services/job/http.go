package job

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

// Paths of the job API (see openapi.yaml). DefaultLocation in a path means
// the service's default location.
const (
	LocationsPath   = "/v1/jobs/locations"
	DefaultLocation = "_default"
)

// ExecutorPath is the path of one executor of the job API.
func ExecutorPath(location string, id wire.ShardID) string {
	return "/v1/jobs/" + pathLocation(location) + "/executors/" + id.RunID + "/" +
		strconv.Itoa(id.Shard) + "/" + strconv.Itoa(id.Attempt)
}

// RunExecutorsPath is the path listing a run's executors at a location.
func RunExecutorsPath(location, runID string) string {
	return "/v1/jobs/" + pathLocation(location) + "/runs/" + runID
}

func pathLocation(l string) string {
	if l == "" {
		return DefaultLocation
	}
	return l
}

// LocationList is the body of GET /v1/jobs/locations; StatusList of a run's
// executors.
type LocationList struct {
	Locations []LocationInfo `json:"locations"`
}

// StatusList is the body of GET RunExecutorsPath.
type StatusList struct {
	Executors []backend.Status `json:"executors"`
}

// SpoolList is the body of GET ExecutorPath/spool: the snapshots an exited
// executor left undelivered.
type SpoolList struct {
	Snapshots []json.RawMessage `json:"snapshots"`
}

const maxSpecBytes = 4 << 20

// Routes registers the job API on mux.
func Routes(mux *http.ServeMux, api API) {
	const exec = "/v1/jobs/{location}/executors/{run}/{shard}/{attempt}"
	mux.HandleFunc("GET "+LocationsPath, func(w http.ResponseWriter, r *http.Request) {
		infos, err := api.Locations(r.Context())
		reply(w, LocationList{Locations: infos}, err)
	})
	mux.HandleFunc("PUT "+exec, func(w http.ResponseWriter, r *http.Request) {
		loc, id, ok := executorOf(w, r)
		if !ok {
			return
		}
		var spec wire.ShardSpec
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSpecBytes)).Decode(&spec); err != nil {
			httpserver.WriteError(w, http.StatusBadRequest, "the body is not a shard spec: "+err.Error())
			return
		}
		reply(w, nil, api.Start(r.Context(), loc, id, spec))
	})
	mux.HandleFunc("GET "+exec, func(w http.ResponseWriter, r *http.Request) {
		if loc, id, ok := executorOf(w, r); ok {
			st, err := api.Status(r.Context(), loc, id)
			reply(w, st, err)
		}
	})
	mux.HandleFunc("POST "+exec+"/stop", func(w http.ResponseWriter, r *http.Request) {
		if loc, id, ok := executorOf(w, r); ok {
			reply(w, nil, api.Stop(r.Context(), loc, id))
		}
	})
	mux.HandleFunc("DELETE "+exec, func(w http.ResponseWriter, r *http.Request) {
		if loc, id, ok := executorOf(w, r); ok {
			reply(w, nil, api.Remove(r.Context(), loc, id))
		}
	})
	mux.HandleFunc("GET "+exec+"/logs", func(w http.ResponseWriter, r *http.Request) {
		loc, id, ok := executorOf(w, r)
		if !ok {
			return
		}
		logs, err := api.Logs(r.Context(), loc, id)
		if err != nil {
			reply(w, nil, err)
			return
		}
		defer func() { _ = logs.Close() }()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.Copy(w, logs)
	})
	mux.HandleFunc("GET "+exec+"/spool", func(w http.ResponseWriter, r *http.Request) {
		if loc, id, ok := executorOf(w, r); ok {
			snaps, err := api.Spooled(r.Context(), loc, id)
			if snaps == nil {
				snaps = []json.RawMessage{}
			}
			reply(w, SpoolList{Snapshots: snaps}, err)
		}
	})
	mux.HandleFunc("GET /v1/jobs/{location}/runs/{run}", func(w http.ResponseWriter, r *http.Request) {
		list, err := api.List(r.Context(), locationOf(r), r.PathValue("run"))
		if list == nil {
			list = []backend.Status{}
		}
		reply(w, StatusList{Executors: list}, err)
	})
}

func locationOf(r *http.Request) string {
	if l := r.PathValue("location"); l != DefaultLocation {
		return l
	}
	return ""
}

func executorOf(w http.ResponseWriter, r *http.Request) (string, wire.ShardID, bool) {
	shard, err1 := strconv.Atoi(r.PathValue("shard"))
	attempt, err2 := strconv.Atoi(r.PathValue("attempt"))
	if err1 != nil || err2 != nil || shard < 0 || attempt < 0 {
		httpserver.WriteError(w, http.StatusBadRequest, "shard and attempt must be non-negative integers")
		return "", wire.ShardID{}, false
	}
	return locationOf(r), wire.ShardID{RunID: r.PathValue("run"), Shard: shard, Attempt: attempt}, true
}

// Errors is the job API's error table: the one place where the job
// service's errors become statuses, and the codes jobclient maps back.
func Errors() httpserver.Errors {
	return httpserver.Errors{
		{Err: ErrInvalidSpec, Status: http.StatusUnprocessableEntity, Code: httpserver.CodeInvalidSpec},
		{Err: ErrUnknownLocation, Status: http.StatusNotFound, Code: httpserver.CodeUnknownLocation},
		{Err: backend.ErrNotFound, Status: http.StatusNotFound, Code: httpserver.CodeNotFound},
		{Err: backend.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: httpserver.CodeUnavailable},
	}
}

// reply writes v (or 204 for nil) or the error, as Errors says.
func reply(w http.ResponseWriter, v any, err error) {
	switch {
	case err != nil:
		Errors().Write(w, err)
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		httpserver.WriteJSON(w, http.StatusOK, v)
	}
}
