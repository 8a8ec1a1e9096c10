package sqlite_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/loadfleet/loadfleet/services/metadata/store"
	"github.com/loadfleet/loadfleet/services/metadata/store/sqlite"
	"github.com/loadfleet/loadfleet/services/metadata/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.New(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "loadfleet.db"))
	})
}

// Two stores on one file stand for two processes.
func TestTwoStoresShareOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loadfleet.db")
	a, b := open(t, path), open(t, path)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	storetest.SharedFile(t, a, b)
}

// Reopening a file keeps its records: the schema is created only once.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loadfleet.db")
	st := open(t, path)
	if err := st.PutReport(t.Context(), "r-1", []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path)
	defer func() { _ = st.Close() }()
	doc, err := st.Report(t.Context(), "r-1")
	if err != nil || string(doc) != `{"ok":true}` {
		t.Fatalf("after reopening: %s, %v", doc, err)
	}
}
