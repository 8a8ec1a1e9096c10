package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/gitsource"
	"github.com/loadfleet/loadfleet/services/validator"
)

// configFlags are the flags shared by the commands that validate plans: the
// ceilings and the git source fetching.
type configFlags struct {
	cfg             app.Config
	credentialsFile string
	logLevel        slog.Level
}

func newConfigFlags() *configFlags {
	return &configFlags{cfg: app.DefaultConfig(), logLevel: slog.LevelInfo}
}

func (c *configFlags) register(fs *pflag.FlagSet) {
	l := &c.cfg.Validator.Limits
	fs.Float64Var(&l.MaxRate, "max-rate", l.MaxRate, "ceiling on a plan's peak arrival rate, per second (0: none)")
	fs.IntVar(&l.MaxUsers, "max-users", l.MaxUsers, "ceiling on a plan's peak concurrent users (0: none)")
	fs.DurationVar(&l.MaxDuration, "max-duration", l.MaxDuration, "ceiling on a plan's load duration (0: none)")
	fs.IntVar(&l.MaxExecutors, "max-executors", l.MaxExecutors, "ceiling on a plan's executor count (0: none)")
	fs.IntVar(&c.cfg.Validator.MaxConcurrent, "max-concurrent-validations", validator.DefaultMaxConcurrent,
		"plans parsed and checked at once; more wait up to 2s, then get 503 with Retry-After")

	g := &c.cfg.Git
	fs.StringVar(&g.CacheDir, "git-cache-dir", defaultGitCacheDir(), "where git sources are fetched to")
	fs.DurationVar(&g.Timeout, "git-timeout", gitsource.DefaultTimeout, "time limit of one git fetch")
	fs.Int64Var(&g.MaxBytes, "git-max-bytes", gitsource.DefaultMaxBytes, "size limit of one fetched repository, in bytes")
	fs.BoolVar(&g.AllowInsecureHTTP, "git-allow-http", false, "allow plain http:// git URLs")
	fs.BoolVar(&g.AllowFile, "git-allow-file", false, "allow file:// git URLs")
	fs.StringSliceVar(&g.Allow, "git-allow", nil,
		"internal git servers to allow: host names (*.domain for a domain), addresses or CIDR prefixes, each with an optional :PORT (repeatable, comma-separated)")
	fs.BoolVar(&g.AllowPrivateAddresses, "git-allow-private", false,
		"turn the git address and port policy off: any address (loopback, private, metadata), any port; for tests and development only")
	fs.StringVar(&g.SSHKnownHostsFile, "git-known-hosts", "", "known_hosts file for ssh git URLs")
	fs.StringVar(&c.credentialsFile, "git-credentials", "",
		`JSON file of git credentials: [{"host", "username", "password", "token", "sshKeyFile"}]`)
	fs.BoolVar(&c.cfg.DisableGit, "disable-git", false, "refuse plans with a git source instead of fetching it")
	fs.TextVar(&c.logLevel, "log-level", &c.logLevel, "log level: debug, info, warn or error")
}

// config returns the configuration the flags describe, credentials loaded.
func (c *configFlags) config() (app.Config, error) {
	cfg := c.cfg
	if c.credentialsFile == "" {
		return cfg, nil
	}
	creds, err := readCredentials(c.credentialsFile)
	if err != nil {
		return cfg, err
	}
	cfg.Git.Credentials = creds
	return cfg, nil
}

func readCredentials(path string) ([]gitsource.Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("git credentials: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var creds []gitsource.Credential
	if err := dec.Decode(&creds); err != nil {
		return nil, fmt.Errorf("git credentials %s: %w", path, err)
	}
	return creds, nil
}

// defaultGitCacheDir is the user's cache directory, or the temporary one
// when the user has none (no HOME, as in some containers).
func defaultGitCacheDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "loadfleet", "git")
	}
	return filepath.Join(os.TempDir(), "loadfleet-git")
}
