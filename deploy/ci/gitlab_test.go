package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// gitlabJob is the part of a GitLab CI job a runner reads.
type gitlabJob struct {
	Image     string            `yaml:"image"`
	Variables map[string]string `yaml:"variables"`
	Script    []string          `yaml:"script"`
	Artifacts struct {
		When    string   `yaml:"when"`
		Paths   []string `yaml:"paths"`
		Reports struct {
			JUnit  string `yaml:"junit"`
			Dotenv string `yaml:"dotenv"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
}

// testGitLabTemplate runs the .loadfleet template's script as a GitLab
// runner's bash executor would (one shell, set -eo pipefail), with the
// variables of a job extending it, and checks its artifacts.
func testGitLabTemplate(t *testing.T, f *fixture) {
	var jobs map[string]gitlabJob
	data := readFile(t, filepath.Join(f.repoRoot, "deploy", "ci", "gitlab", "loadfleet.gitlab-ci.yml"))
	if err := yaml.Unmarshal([]byte(data), &jobs); err != nil {
		t.Fatalf("loadfleet.gitlab-ci.yml: %v", err)
	}
	job, ok := jobs[".loadfleet"]
	if !ok {
		t.Fatal("loadfleet.gitlab-ci.yml has no hidden job .loadfleet")
	}
	if _, ok := job.Variables["LOADFLEET_TOKEN"]; ok {
		t.Error("the template must not define LOADFLEET_TOKEN: it is a masked project variable")
	}
	if job.Artifacts.When != "always" {
		t.Errorf("artifacts.when = %q, want always: a failed run's report matters most", job.Artifacts.When)
	}

	project := t.TempDir()
	writePlans(t, project)
	vars := map[string]string{"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": project}
	for k, v := range job.Variables {
		vars[k] = v
	}
	// The extending job's variables; LOADFLEET_CI_DIR points at this source
	// tree, which the clone would otherwise fetch.
	for k, v := range map[string]string{
		"LOADFLEET_PLAN":      "loadtests/pass.json",
		"LOADFLEET_SERVER":    f.server,
		"LOADFLEET_OVERRIDES": "baseUrl=" + f.target + "\n",
		"LOADFLEET_CI_DIR":    f.repoRoot,
	} {
		vars[k] = v
	}
	env := cleanEnv()
	for k, v := range vars {
		env = append(env, k+"="+expandVariable(v, vars))
	}
	env = append(env, "LOADFLEET_TOKEN="+apiToken) // the masked project variable

	script := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(script, []byte(strings.Join(job.Script, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir, cmd.Env = project, env
	out, err := cmd.CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(out), "PASSED") {
		t.Fatalf("the template's script: exit %d, want 0 and PASSED:\n%s", code, out)
	}
	assertNoToken(t, "the job log", string(out))

	for _, p := range job.Artifacts.Paths {
		if _, err := os.Stat(filepath.Join(project, expandVariable(p, vars))); err != nil {
			t.Errorf("artifact %s is missing: %v", p, err)
		}
	}
	junit := readFile(t, filepath.Join(project, expandVariable(job.Artifacts.Reports.JUnit, vars)))
	if !strings.Contains(junit, `failures="0"`) {
		t.Errorf("reports:junit of a passed run should have no failure:\n%s", junit)
	}
	dotenv := readFile(t, filepath.Join(project, expandVariable(job.Artifacts.Reports.Dotenv, vars)))
	if !strings.Contains(dotenv, "LOADFLEET_VERDICT=passed") || !strings.Contains(dotenv, "LOADFLEET_EXIT_CODE=0") {
		t.Errorf("reports:dotenv should carry the verdict:\n%s", dotenv)
	}
}

// expandVariable expands $VAR and ${VAR} in a variable's value or an
// artifact path as GitLab does, from the job's variables.
func expandVariable(s string, vars map[string]string) string {
	return os.Expand(s, func(name string) string { return vars[name] })
}

// The examples must use only what the action and the template define: a
// renamed input would otherwise leave them silently wrong.
func TestExamplesUseTheirIntegrations(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	action := loadAction(t, root)
	var workflow struct {
		Jobs map[string]struct {
			Steps []actionStep `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join("examples", "github-workflow.yml"))), &workflow); err != nil {
		t.Fatalf("github-workflow.yml: %v", err)
	}
	used := 0
	for _, job := range workflow.Jobs {
		for _, s := range job.Steps {
			if !strings.HasPrefix(s.Uses, "loadfleet/loadfleet@") {
				continue
			}
			used++
			for name := range s.With {
				if _, ok := action.Inputs[name]; !ok {
					t.Errorf("github-workflow.yml passes %q, not an input of action.yml", name)
				}
			}
		}
	}
	if used == 0 {
		t.Error("github-workflow.yml does not use loadfleet/loadfleet")
	}

	var template map[string]gitlabJob
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join("gitlab", "loadfleet.gitlab-ci.yml"))), &template); err != nil {
		t.Fatal(err)
	}
	// Top-level keys of a pipeline are jobs or keywords (include, stages).
	var example map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join("examples", "gitlab-ci.yml"))), &example); err != nil {
		t.Fatalf("gitlab-ci.yml: %v", err)
	}
	extended := 0
	for name, node := range example {
		var job struct {
			Extends   string            `yaml:"extends"`
			Variables map[string]string `yaml:"variables"`
		}
		if node.Kind != yaml.MappingNode || node.Decode(&job) != nil || job.Extends != ".loadfleet" {
			continue
		}
		extended++
		for v := range job.Variables {
			if _, ok := template[".loadfleet"].Variables[v]; !ok {
				t.Errorf("gitlab-ci.yml job %s sets %s, not a variable of the .loadfleet template", name, v)
			}
		}
	}
	if extended == 0 {
		t.Error("gitlab-ci.yml has no job extending .loadfleet")
	}
}
