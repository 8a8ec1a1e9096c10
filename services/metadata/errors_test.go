package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
)

// TestEveryErrorComesBackThroughTheClient: each row of metadata.Errors,
// answered by a server, is the same sentinel again in metadataclient: the
// client reads the code, not the text. Rows that share a code (a plan too
// deep is invalid_plan) come back as the first row with that code.
func TestEveryErrorComesBackThroughTheClient(t *testing.T) {
	first := map[string]error{}
	for _, row := range metadata.Errors() {
		if first[row.Code] == nil {
			first[row.Code] = row.Err
		}
	}
	for _, row := range metadata.Errors() {
		t.Run(row.Code+" "+row.Err.Error(), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				// A message that names no sentinel: only the code tells them apart.
				metadata.Errors().Write(w, fmt.Errorf("%w", row.Err))
			}))
			defer srv.Close()
			_, err := metadataclient.New(srv.URL, "", srv.Client()).Run(context.Background(), "r-1")
			if want := first[row.Code]; !errors.Is(err, want) {
				t.Fatalf("Run = %v, want %v back from a %d %q", err, want, row.Status, row.Code)
			}
		})
	}
}
