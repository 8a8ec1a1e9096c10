package app

import (
	"fmt"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/loadfleet/loadfleet/services/worker"
)

// StoreConfig chooses the metadata store.
type StoreConfig struct {
	// Driver is "sqlite" (default, a file in the data directory) or "mongo".
	Driver string `yaml:"driver"`
	// Path of the SQLite file; default DATA_DIR/loadfleet.db.
	Path string `yaml:"path"`
	// URI and Database of MongoDB.
	URI      string `yaml:"uri"`
	Database string `yaml:"database"`
}

// SeriesConfig chooses where the live series go.
type SeriesConfig struct {
	// Driver is "embedded" (default, in the data directory) or "influx".
	Driver string       `yaml:"driver"`
	Influx InfluxConfig `yaml:"influx"`
}

// InfluxConfig reaches an InfluxDB (2.x, or 1.8 with bucket
// "database/retention").
type InfluxConfig struct {
	URL    string `yaml:"url"`
	Token  string `yaml:"token"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
}

// ServicesConfig gives the addresses of the other targets, in
// microservices mode. An empty address means the service runs in this
// process (and must, for the target to start).
type ServicesConfig struct {
	Validator string `yaml:"validator"`
	Metadata  string `yaml:"metadata"`
	Job       string `yaml:"job"`
	Reporting string `yaml:"reporting"`
	// Worker is where executors reach the executor API.
	Worker string `yaml:"worker"`
}

// LocationConfig is a place executors run: a backend and its settings.
type LocationConfig struct {
	Name    string `yaml:"name"`
	Backend string `yaml:"backend"` // "local" or "docker"
	// Local: the command that runs an executor (default: this binary's
	// "executor" subcommand).
	Command []string     `yaml:"command"`
	Docker  DockerConfig `yaml:"docker"`
}

// DockerConfig is a Docker host and how executors run on it.
type DockerConfig struct {
	// Host is a DOCKER_HOST-style URL (unix://, tcp://, ssh://); empty
	// means the environment's.
	Host        string  `yaml:"host"`
	TLSCA       string  `yaml:"tlsCA"`
	TLSCert     string  `yaml:"tlsCert"`
	TLSKey      string  `yaml:"tlsKey"`
	Image       string  `yaml:"image"`
	NetworkMode string  `yaml:"networkMode"`
	CPUs        float64 `yaml:"cpus"`
	MemoryBytes int64   `yaml:"memoryBytes"`
	// User runs executors in their containers ("uid:gid"); default
	// 65534:65534 (nobody), never root unless set so.
	User string `yaml:"user"`
}

// fileConfig is the --config file: YAML (or JSON, which YAML reads), every
// field optional, unknown fields refused.
type fileConfig struct {
	Listen    string           `yaml:"listen"`
	DataDir   string           `yaml:"dataDir"`
	PublicURL string           `yaml:"publicURL"`
	Store     StoreConfig      `yaml:"store"`
	Series    SeriesConfig     `yaml:"series"`
	Services  ServicesConfig   `yaml:"services"`
	Locations []LocationConfig `yaml:"locations"`
	Worker    worker.Config    `yaml:"worker"`
	Notify    NotifyConfig     `yaml:"notify"`
	Auth      AuthConfig       `yaml:"auth"`
	Reports   ReportsConfig    `yaml:"reports"`
	Validator ValidatorConfig  `yaml:"validator"`
	Git       GitConfig        `yaml:"git"`
}

// ValidatorConfig tunes the validator service (zero values: the flags').
type ValidatorConfig struct {
	// MaxConcurrent bounds the plans parsed and checked at once.
	MaxConcurrent int `yaml:"maxConcurrent"`
}

// GitConfig is the part of git fetching a file may set.
type GitConfig struct {
	// Allow lists internal git servers: host names (*.domain), addresses
	// or CIDR prefixes, each with an optional :PORT (gitsource.Config.Allow).
	Allow []string `yaml:"allow"`
}

// NotifyConfig configures where notifications go; empty parts log instead.
type NotifyConfig struct {
	Slack SlackConfig `yaml:"slack"`
	Email EmailConfig `yaml:"email"`
	// ReportBaseURL is how links in messages reach reports.
	ReportBaseURL string `yaml:"reportBaseURL"`
}

// SlackConfig is a Slack bot.
type SlackConfig struct {
	Token  string `yaml:"token"`
	APIURL string `yaml:"apiURL"`
}

// EmailConfig is an SMTP submission server.
type EmailConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	// StartTLS is required unless Insecure (loopback test servers).
	Insecure bool `yaml:"insecure"`
}

// decodeConfigFile parses the file, expands ${NAME} in its values, refuses
// unknown fields and empty API tokens, and decodes it.
func decodeConfigFile(data []byte) (fileConfig, error) {
	var f fileConfig
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind == 0 {
		return f, err // an empty file sets nothing
	}
	if err := expandEnvNodes(&doc, os.LookupEnv); err != nil {
		return f, err
	}
	if err := knownFields(&doc, reflect.TypeOf(f)); err != nil {
		return f, err
	}
	if err := doc.Decode(&f); err != nil {
		return f, err
	}
	for i, token := range f.Auth.Tokens {
		if token == "" {
			return f, fmt.Errorf("auth.tokens[%d] is empty (an unset secret?): an empty token would open the API", i)
		}
	}
	for i, token := range f.Auth.ServiceTokens {
		if token == "" {
			return f, fmt.Errorf("auth.serviceTokens[%d] is empty (an unset secret?)", i)
		}
	}
	return f, nil
}

// LoadConfigFile reads a configuration file over cfg: what the file sets
// replaces cfg's values.
func LoadConfigFile(path string, cfg Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	f, err := decodeConfigFile(data)
	if err != nil {
		return cfg, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, f.Listen)
	set(&cfg.DataDir, f.DataDir)
	set(&cfg.PublicURL, f.PublicURL)
	if f.Store != (StoreConfig{}) {
		cfg.Store = f.Store
	}
	if f.Series != (SeriesConfig{}) {
		cfg.Series = f.Series
	}
	if f.Services != (ServicesConfig{}) {
		cfg.Services = f.Services
	}
	if len(f.Locations) > 0 {
		cfg.Locations = f.Locations
	}
	if f.Worker != (worker.Config{}) {
		cfg.Worker = f.Worker
	}
	if t := f.Reports.MissingTolerance; t < 0 || t >= 1 {
		return cfg, fmt.Errorf("%w: %s: reports.missingTolerance %v: a share of the planned arrivals, from 0 to below 1 (0.02 is 2%%)", ErrConfig, path, t)
	}
	if f.Notify != (NotifyConfig{}) {
		cfg.Notify = f.Notify
	}
	if len(f.Auth.Tokens) > 0 {
		cfg.Auth.Tokens = f.Auth.Tokens
	}
	if len(f.Auth.ServiceTokens) > 0 {
		cfg.Auth.ServiceTokens = f.Auth.ServiceTokens
	}
	if f.Reports != (ReportsConfig{}) {
		cfg.Reports = f.Reports
	}
	if f.Validator.MaxConcurrent > 0 {
		cfg.Validator.MaxConcurrent = f.Validator.MaxConcurrent
	}
	if len(f.Git.Allow) > 0 {
		cfg.Git.Allow = f.Git.Allow
	}
	// Either the flag or the file may open the API to the network; neither
	// can close it again for the other.
	cfg.Auth.InsecureNoAuth = cfg.Auth.InsecureNoAuth || f.Auth.InsecureNoAuth
	return cfg, nil
}
