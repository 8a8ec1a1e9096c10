package docker

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/wire"
	"github.com/loadfleet/loadfleet/services/job/backend"
)

func TestContainerName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) // Docker's rule
	tests := []struct {
		why  string
		a, b wire.ShardID
	}{
		{"attempts of a shard are distinct containers", wire.ShardID{RunID: "r", Shard: 1}, wire.ShardID{RunID: "r", Shard: 1, Attempt: 1}},
		{"shards of a run are distinct containers", wire.ShardID{RunID: "r", Shard: 1}, wire.ShardID{RunID: "r", Shard: 2}},
		{"run IDs that read the same once sanitized stay distinct", wire.ShardID{RunID: "a/b"}, wire.ShardID{RunID: "a:b"}},
		{"long run IDs that share a prefix stay distinct", wire.ShardID{RunID: string(make([]byte, 60)) + "x"}, wire.ShardID{RunID: string(make([]byte, 60)) + "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			na, nb := ContainerName(tt.a), ContainerName(tt.b)
			if na == nb || !valid.MatchString(na) || !valid.MatchString(nb) {
				t.Errorf("%q and %q: want two distinct valid names", na, nb)
			}
			if ContainerName(tt.a) != na {
				t.Error("the name is not deterministic")
			}
		})
	}
}

func TestUnreachableDaemonIsUnavailable(t *testing.T) {
	b, err := New(Config{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock"), Image: "x"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Status(context.Background(), wire.ShardID{RunID: "r"}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Status: %v, want ErrUnavailable", err)
	}
	if _, err := b.List(context.Background(), "r"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("List: %v, want ErrUnavailable", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		why string
		cfg Config
	}{
		{"an executor image is needed", Config{Host: "unix:///var/run/docker.sock"}},
		{"an ssh host has no path", Config{Host: "ssh://host/some/path", Image: "x"}},
		{"a host URL must parse", Config{Host: "tcp://[::1", Image: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			if b, err := New(tt.cfg, testLogger(t)); err == nil {
				b.Close()
				t.Error("New accepted it")
			}
		})
	}
}
