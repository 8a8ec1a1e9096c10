package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"
)

// spooledFromTar keeps the spool's snapshots, in sequence order, and
// leaves out its other files: the high-water mark and an interrupted write.
func TestSpooledFromTarKeepsSnapshotsInSequenceOrder(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: "r/0/0/" + name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []int{10, 2, 1} {
		add(fmt.Sprintf("%020d.json", seq), fmt.Sprintf(`{"seq":%d}`, seq))
	}
	add("lastseq", "10")
	add(fmt.Sprintf("%020d.json.tmp", 11), `{"seq":11`)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	docs, err := spooledFromTar(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, string(d))
	}
	if want := []string{`{"seq":1}`, `{"seq":2}`, `{"seq":10}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spooledFromTar = %v; want %v", got, want)
	}
}
