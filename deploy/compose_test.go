package deploy

import (
	"bufio"
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	composeDir     = "compose"
	composeFile    = "compose.yaml"
	composeEnvFile = ".env.example"
)

// composeConfig is the part of `compose config`'s output the tests read.
type composeConfig struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Name string `yaml:"name"`
	} `yaml:"networks"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
		Target     string `yaml:"target"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []composeVolume   `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// composeVolume is a mount, from either rendering: docker-compose 1.29
// prints "SOURCE:TARGET:MODE", the v2 plugin the long form.
type composeVolume struct {
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
}

func (v *composeVolume) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type long composeVolume
		return n.Decode((*long)(v))
	}
	parts := strings.Split(n.Value, ":")
	v.Source, v.Target = parts[0], parts[len(parts)-1]
	if len(parts) == 3 {
		v.Target = parts[1]
		v.ReadOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
	}
	return nil
}

func (s composeService) mount(target string) (composeVolume, bool) {
	for _, v := range s.Volumes {
		if v.Target == target {
			return v, true
		}
	}
	return composeVolume{}, false
}

// flagValue is the value of --name in a command: "--name=V" or "--name V".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// composeTool is the compose plugin, else Debian's docker-compose.
func composeTool(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("neither `docker compose` nor docker-compose is installed (scripts/ci-deps.sh start compose)")
	}
	t.Skip("neither `docker compose` nor docker-compose is installed (scripts/ci-deps.sh start compose)")
	return nil
}

// envFileVars reads a KEY=VALUE file.
func envFileVars(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	return vars
}

// renderCompose runs `compose config` with only .env.example's values, as a
// user who copied it would, and decodes what it prints.
func renderCompose(t *testing.T) composeConfig {
	t.Helper()
	tool := composeTool(t)
	cmd := exec.Command(tool[0], append(tool[1:], "--env-file", composeEnvFile, "-f", composeFile, "config")...)
	cmd.Dir = composeDir
	// The caller's environment would override the env file.
	example := envFileVars(t, filepath.Join(composeDir, composeEnvFile))
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); example[k] == "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(tool, " "), err, stderr.String())
	}
	var cfg composeConfig
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("decode the rendered compose file: %v\n%s", err, out)
	}
	return cfg
}

// serviceRunning is the compose service whose command runs target.
func serviceRunning(cfg composeConfig, target string) (string, composeService, bool) {
	for name, s := range cfg.Services {
		if len(s.Command) > 0 && s.Command[0] == "server" && flagValue(s.Command, "--target") == target {
			return name, s, true
		}
	}
	return "", composeService{}, false
}

func serviceWithImage(t *testing.T, cfg composeConfig, prefix string) (string, composeService) {
	t.Helper()
	for name, s := range cfg.Services {
		if strings.HasPrefix(s.Image, prefix) {
			return name, s
		}
	}
	t.Fatalf("no service runs an image %s*", prefix)
	return "", composeService{}
}

// Every target runs as its own service from the one image the repository's
// Dockerfile builds, with the same configuration file, which loadfleet
// accepts with the environment compose gives it.
func TestComposeTargets(t *testing.T) {
	cfg := renderCompose(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	_, final := dockerfileStages(t)
	var image, configSource string
	for _, target := range serverTargets() {
		name, s, ok := serviceRunning(cfg, target)
		if !ok {
			t.Errorf("no service runs `loadfleet server --target=%s`", target)
			continue
		}
		if image == "" {
			image = s.Image
		}
		if s.Image != image {
			t.Errorf("service %s runs image %s, others %s: one image for every target", name, s.Image, image)
		}
		if s.Build == nil || filepath.Clean(s.Build.Context) != root || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("service %s: build %+v, want the repository's Dockerfile", name, s.Build)
		} else if s.Build.Target != "" && s.Build.Target != final.name {
			t.Errorf("service %s builds stage %q, not the loadfleet image (%q)", name, s.Build.Target, final.name)
		}
		_, port, _ := strings.Cut(flagValue(s.Command, "--listen"), ":")
		if s.Healthcheck == nil || !slices.Contains(s.Healthcheck.Test, "http://127.0.0.1:"+port+"/readyz") {
			t.Errorf("service %s: healthcheck %+v does not ask /readyz on its port %s", name, s.Healthcheck, port)
		}
		configPath := flagValue(s.Command, "--config")
		mount, ok := s.mount(configPath)
		if !ok {
			t.Errorf("service %s: --config %q is not mounted", name, configPath)
			continue
		}
		if configSource == "" {
			configSource = mount.Source
		}
		if mount.Source != configSource {
			t.Errorf("service %s mounts %s, others %s: one configuration for every target", name, mount.Source, configSource)
		}
		t.Run(target, func(t *testing.T) { loadConfig(t, mount.Source, s.Environment) })
	}
}

// The configuration the targets share points at the stack's own services,
// with the credentials those services were set up with.
func TestComposeConfigReachesTheStack(t *testing.T) {
	cfg := renderCompose(t)
	_, job, ok := serviceRunning(cfg, "job")
	if !ok {
		t.Fatal("no service runs the job target")
	}
	configFile, _ := job.mount(flagValue(job.Command, "--config"))
	lf := loadConfig(t, configFile.Source, job.Environment)

	for target, addr := range targetAddresses(lf) {
		if addr == "" {
			t.Errorf("services.%s is empty: every target runs in its own container", target)
			continue
		}
		host, port := hostPort(t, addr)
		s, ok := cfg.Services[host]
		if !ok || flagValue(s.Command, "--target") != target || !strings.HasSuffix(flagValue(s.Command, "--listen"), ":"+port) {
			t.Errorf("services.%s is %s: no service %s runs that target on port %s", target, addr, host, port)
		}
	}

	mongoName, mongo := serviceWithImage(t, cfg, "mongo:")
	uri, err := url.Parse(lf.Store.URI)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := uri.User.Password()
	if lf.Store.Driver != "mongo" || uri.Hostname() != mongoName || uri.User.Username() != mongo.Environment["MONGO_INITDB_ROOT_USERNAME"] ||
		password != mongo.Environment["MONGO_INITDB_ROOT_PASSWORD"] {
		t.Errorf("store %s %s does not log in to service %s as it was initialised", lf.Store.Driver, lf.Store.URI, mongoName)
	}

	influxName, influx := serviceWithImage(t, cfg, "influxdb:2")
	in, ie := lf.Series.Influx, influx.Environment
	if host, _ := hostPort(t, in.URL); lf.Series.Driver != "influx" || host != influxName {
		t.Errorf("series %s at %s, want InfluxDB service %s", lf.Series.Driver, in.URL, influxName)
	}
	if in.Token != ie["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] || in.Org != ie["DOCKER_INFLUXDB_INIT_ORG"] || in.Bucket != ie["DOCKER_INFLUXDB_INIT_BUCKET"] {
		t.Errorf("series token/org/bucket %q/%q/%q are not what InfluxDB was set up with", in.Token, in.Org, in.Bucket)
	}

	if len(lf.Auth.Tokens) == 0 || lf.Auth.Tokens[0] == "" {
		t.Error("the API has no token: anyone reaching a published port could start runs")
	}

	network := cfg.Networks["default"].Name
	for _, loc := range lf.Locations {
		if loc.Backend != "docker" {
			continue
		}
		if loc.Docker.NetworkMode != network || network == "" {
			t.Errorf("location %s: executors join network %q, the stack is on %q: they would not reach the worker", loc.Name, loc.Docker.NetworkMode, network)
		}
		socket, ok := strings.CutPrefix(loc.Docker.Host, "unix://")
		if _, mounted := job.mount(socket); !ok || !mounted {
			t.Errorf("location %s: Docker host %q is not a socket mounted into the job service", loc.Name, loc.Docker.Host)
		}
	}
}

// Grafana gets the repository's provisioning and every value it expands,
// pointing at the stack's InfluxDB with the token it was set up with.
func TestComposeGrafana(t *testing.T) {
	cfg := renderCompose(t)
	_, grafana := serviceWithImage(t, cfg, "grafana/grafana")
	provisioning, err := filepath.Abs(filepath.Join(repoRoot, "grafana", "provisioning"))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := grafana.mount("/etc/grafana/provisioning"); !ok || m.Source != provisioning {
		t.Errorf("Grafana's /etc/grafana/provisioning is %q, want %s", m.Source, provisioning)
	}

	datasources, err := filepath.Glob(filepath.Join(provisioning, "datasources", "*.yaml"))
	if err != nil || len(datasources) == 0 {
		t.Fatalf("no datasource in %s", provisioning)
	}
	for _, file := range datasources {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envReference.FindAllStringSubmatch(string(data), -1) {
			if grafana.Environment[m[2]] == "" {
				t.Errorf("%s expands ${%s}, which Grafana's environment does not set", filepath.Base(file), m[2])
			}
		}
	}

	influxName, influx := serviceWithImage(t, cfg, "influxdb:2")
	env, ie := grafana.Environment, influx.Environment
	if host, _ := hostPort(t, env["LOADFLEET_INFLUXDB_URL"]); host != influxName {
		t.Errorf("Grafana's datasource is %s, not the stack's InfluxDB (%s)", env["LOADFLEET_INFLUXDB_URL"], influxName)
	}
	if env["LOADFLEET_INFLUXDB_TOKEN"] != ie["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] || env["LOADFLEET_INFLUXDB_ORG"] != ie["DOCKER_INFLUXDB_INIT_ORG"] ||
		env["LOADFLEET_INFLUXDB_BUCKET"] != ie["DOCKER_INFLUXDB_INIT_BUCKET"] {
		t.Error("Grafana's InfluxDB token/org/bucket are not what InfluxDB was set up with")
	}
}

// A service starts once what it needs answers its healthcheck.
func TestComposeStartOrder(t *testing.T) {
	cfg := renderCompose(t)
	for name, s := range cfg.Services {
		for dep, cond := range s.DependsOn {
			if cond.Condition != "service_healthy" {
				t.Errorf("%s waits for %s to be %q; want service_healthy", name, dep, cond.Condition)
			}
			if d, ok := cfg.Services[dep]; !ok || d.Healthcheck == nil || len(d.Healthcheck.Test) == 0 {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}
}

// Every variable compose.yaml reads is a secret: it must be required (an
// unset one stops compose, naming it), never silently empty or defaulted.
func TestComposeSecretsAreRequired(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(composeDir, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	interpolation := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}`)
	refs := interpolation.FindAllStringSubmatch(string(data), -1)
	if len(refs) == 0 {
		t.Fatal("compose.yaml reads no variable: where do its secrets come from?")
	}
	example := envFileVars(t, filepath.Join(composeDir, composeEnvFile))
	for _, m := range refs {
		if !strings.HasPrefix(m[2], ":?") {
			t.Errorf("${%s%s} is not required (${%s:?message})", m[1], m[2], m[1])
		}
		if example[m[1]] == "" {
			t.Errorf("%s is missing from %s", m[1], composeEnvFile)
		}
	}
}
