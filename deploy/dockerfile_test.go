package deploy

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository, seen from this module's directory.
const repoRoot = ".."

// loadfleetMain is the package the loadfleet image is built from.
const loadfleetMain = "./services/cmd/loadfleet"

// defaultCommand is the image's CMD: the server on every interface, which
// the server allows only with an API token.
var defaultCommand = []string{"server", "--listen", "0.0.0.0:8080"}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, COPY, RUN...
	args string
	line int
}

// stage is one FROM and the instructions under it.
type stage struct {
	name, base   string
	instructions []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the stage's last cmd instruction: the one in effect.
func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// parseDockerfile reads the stages of a Dockerfile (global ARGs dropped).
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var pending strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			st := stage{base: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	return stages
}

// copySpec is a COPY's sources, destination and --from stage.
type copySpec struct {
	from    string
	sources []string
	dest    string
}

func parseCopy(in instruction) copySpec {
	var c copySpec
	var paths []string
	for _, f := range strings.Fields(in.args) {
		switch {
		case strings.HasPrefix(f, "--from="):
			c.from = strings.TrimPrefix(f, "--from=")
		case strings.HasPrefix(f, "--"):
		default:
			paths = append(paths, f)
		}
	}
	if len(paths) > 0 {
		c.sources, c.dest = paths[:len(paths)-1], paths[len(paths)-1]
	}
	return c
}

func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var list []string
	if err := json.Unmarshal([]byte(in.args), &list); err != nil {
		t.Fatalf("line %d: %s %s is not in exec form (a JSON list): %v", in.line, in.cmd, in.args, err)
	}
	return list
}

// workspaceModules lists the directories go.work uses.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	out := goCommand(t, "work", "edit", "-json")
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, u := range work.Use {
		dirs = append(dirs, path.Clean(u.DiskPath))
	}
	if len(dirs) == 0 {
		t.Fatal("go.work uses no module")
	}
	return dirs
}

// modulesOfLoadfleet lists the workspace modules (as directories relative to
// the repository) whose packages the loadfleet binary is built from.
func modulesOfLoadfleet(t *testing.T) []string {
	t.Helper()
	out := goCommand(t, "list", "-deps", "-f", "{{with .Module}}{{if .Main}}{{.Dir}}{{end}}{{end}}", loadfleetMain)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(dirs, filepath.ToSlash(rel)) {
			dirs = append(dirs, filepath.ToSlash(rel))
		}
	}
	return dirs
}

func goCommand(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// dockerfileStages parses the repository's Dockerfile and returns its
// stages and the final one, the image `docker build .` produces.
func dockerfileStages(t *testing.T) ([]stage, stage) {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stage(s); want a build stage and a final one", len(stages))
	}
	return stages, stages[len(stages)-1]
}

// imageUser is the user the final image runs as.
func imageUser(t *testing.T) string {
	t.Helper()
	_, final := dockerfileStages(t)
	user, ok := final.last("USER")
	if !ok {
		t.Fatal("the final stage sets no USER: the image would run as root")
	}
	return user.args
}

// The final stage is small and non-root, gets the binary from a build
// stage, and runs the server by default.
func TestDockerfileFinalStage(t *testing.T) {
	stages, final := dockerfileStages(t)
	if strings.HasPrefix(final.base, "golang") {
		t.Errorf("the final stage is FROM %s: the Go toolchain would ship in the image", final.base)
	}
	uid, _, _ := strings.Cut(imageUser(t), ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("the final stage runs as USER %q: want a non-root user", uid)
	}
	if strings.Trim(uid, "0123456789") != "" {
		t.Errorf("USER %q is a name: Kubernetes' runAsNonRoot can only check a numeric UID", uid)
	}

	build := buildStageOf(t, stages, final)
	if build.name == "" {
		t.Fatal("the final stage copies loadfleet from no named build stage")
	}
	entry, ok := final.last("ENTRYPOINT")
	if !ok || !slices.Equal(execForm(t, entry), []string{"loadfleet"}) {
		t.Errorf("ENTRYPOINT %q, want [\"loadfleet\"]", entry.args)
	}
	cmd, ok := final.last("CMD")
	if !ok || !slices.Equal(execForm(t, cmd), defaultCommand) {
		t.Errorf("CMD %q, want the server on 0.0.0.0:8080", cmd.args)
	}
	// Closed by default: nothing in the image opens the API or sets a
	// token everyone who has the image would know.
	for _, in := range final.instructions {
		for _, opener := range []string{"insecure-no-auth", "INSECURE_NO_AUTH", "AUTH_TOKEN"} {
			if (in.cmd == "ENV" || in.cmd == "CMD" || in.cmd == "ENTRYPOINT") && strings.Contains(in.args, opener) {
				t.Errorf("line %d: %s %s: the image must not open the API nor carry a token", in.line, in.cmd, in.args)
			}
		}
	}
	expose, _ := final.last("EXPOSE")
	if !slices.Contains(strings.Fields(expose.args), "8080") {
		t.Errorf("EXPOSE %q, want 8080", expose.args)
	}
	if _, ok := final.last("VOLUME"); !ok {
		t.Error("the final stage declares no VOLUME for the data directory")
	}
}

// buildStageOf is the stage the final one copies the loadfleet binary from.
func buildStageOf(t *testing.T, stages []stage, final stage) stage {
	t.Helper()
	for _, in := range final.all("COPY") {
		c := parseCopy(in)
		if c.from != "" && path.Base(c.dest) == "loadfleet" {
			for _, s := range stages {
				if s.name == c.from {
					return s
				}
			}
			t.Fatalf("line %d: COPY --from=%s names no stage", in.line, c.from)
		}
	}
	t.Fatal("the final stage copies no loadfleet binary from another stage")
	return stage{}
}

// The build stage builds a static, path-free binary in workspace mode, with
// the module files copied (and downloaded) before the sources, so that a
// source change does not download every module again.
func TestDockerfileBuildStage(t *testing.T) {
	stages, final := dockerfileStages(t)
	build := buildStageOf(t, stages, final)

	sources := map[string]int{} // COPY source (cleaned) -> index in the stage
	firstRun := -1
	for i, in := range build.instructions {
		switch in.cmd {
		case "COPY":
			c := parseCopy(in)
			if c.from != "" {
				continue
			}
			for _, s := range c.sources {
				if _, seen := sources[path.Clean(s)]; !seen {
					sources[path.Clean(s)] = i
				}
			}
		case "RUN":
			if firstRun < 0 {
				firstRun = i
			}
		}
	}
	copiedBeforeRun := func(src string) bool {
		i, ok := sources[src]
		return ok && i < firstRun
	}
	for _, f := range []string{"go.work", "go.work.sum"} {
		if !copiedBeforeRun(f) {
			t.Errorf("%s is not copied before the first RUN", f)
		}
	}
	// A module of go.work without its go.mod breaks the workspace even when
	// the binary imports nothing from it.
	for _, dir := range workspaceModules(t) {
		for _, f := range []string{"go.mod", "go.sum"} {
			if !copiedBeforeRun(dir + "/" + f) {
				t.Errorf("%s/%s (go.work uses ./%s) is not copied before the first RUN", dir, f, dir)
			}
		}
	}
	for _, dir := range modulesOfLoadfleet(t) {
		if i, ok := sources[dir]; !ok || i < firstRun {
			t.Errorf("the sources of %s (loadfleet imports it) are not copied after the download", dir)
		}
	}

	var goBuild string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") && strings.Contains(in.args, loadfleetMain) {
			goBuild = in.args
		}
	}
	if goBuild == "" {
		t.Fatalf("no RUN go build of %s in stage %s", loadfleetMain, build.name)
	}
	if !strings.Contains(goBuild, "-trimpath") {
		t.Error("go build without -trimpath: build paths would end up in the binary")
	}
	cgoOff := strings.Contains(goBuild, "CGO_ENABLED=0")
	for _, env := range build.all("ENV") {
		cgoOff = cgoOff || strings.Contains(env.args, "CGO_ENABLED=0")
	}
	if !cgoOff {
		t.Error("CGO_ENABLED=0 is not set for the build: the binary would not be static")
	}
}

// .dockerignore keeps .git and data out of the context, and nothing the
// Dockerfile copies.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, want := range []string{".git", "loadfleet-data", "scripts/bench/results"} {
		if !ignored(patterns, want) {
			t.Errorf(".dockerignore lets %s into the build context", want)
		}
	}
	stages, _ := dockerfileStages(t)
	for _, s := range stages {
		for _, in := range s.all("COPY") {
			c := parseCopy(in)
			if c.from != "" {
				continue
			}
			for _, src := range c.sources {
				if ignored(patterns, path.Clean(src)) {
					t.Errorf("line %d copies %s, which .dockerignore excludes", in.line, src)
				}
			}
		}
	}
}

// ignored says whether a .dockerignore pattern excludes p or a parent of
// it; "**/" matches at any depth.
func ignored(patterns []string, p string) bool {
	parts := strings.Split(p, "/")
	for _, pattern := range patterns {
		pattern = strings.TrimSuffix(pattern, "/")
		anyDepth := strings.HasPrefix(pattern, "**/")
		pattern = strings.TrimPrefix(pattern, "**/")
		for start := range parts {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + 1; end <= len(parts); end++ {
				if ok, _ := path.Match(pattern, strings.Join(parts[start:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// The image's default command fails closed: without a token it exits at
// once, naming the address and the ways out, before listening.
func TestDockerfileDefaultCommandNeedsAToken(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "loadfleet")
	goCommand(t, "build", "-o", bin, loadfleetMain)
	cmd := exec.Command(bin, defaultCommand...)
	cmd.Dir = t.TempDir() // the image's working directory: the data directory goes there
	// The image's environment, and no LOADFLEET_* from the test's.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "XDG_CACHE_HOME=" + filepath.Join(cmd.Dir, "cache")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("loadfleet %s without a token: %v\n%s\nwant a non-zero exit", strings.Join(defaultCommand, " "), err, out)
	}
	for _, want := range []string{"refusing to listen on 0.0.0.0:8080", "LOADFLEET_AUTH_TOKEN", "--insecure-no-auth"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "msg=serving") {
		t.Errorf("the server served:\n%s", out)
	}
}
