package job_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job"
	"github.com/loadfleet/loadfleet/services/job/jobclient"
)

// TestEveryErrorComesBackThroughTheClient: each row of job.Errors,
// answered by a server, is the same sentinel again in jobclient (its two
// 404s are told apart by code, not by text).
func TestEveryErrorComesBackThroughTheClient(t *testing.T) {
	for _, row := range job.Errors() {
		t.Run(row.Code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				err := fmt.Errorf("%w", row.Err)
				if errors.Is(row.Err, job.ErrInvalidSpec) {
					err = &job.SpecError{}
				}
				job.Errors().Write(w, err)
			}))
			defer srv.Close()
			_, err := jobclient.New(srv.URL, srv.Client()).Status(context.Background(), "", wire.ShardID{RunID: "r-1"})
			if !errors.Is(err, row.Err) {
				t.Fatalf("Status = %v, want %v back from a %d %q", err, row.Err, row.Status, row.Code)
			}
		})
	}
}
