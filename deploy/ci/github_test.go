package ci

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// compositeAction is the part of action.yml a runner reads.
type compositeAction struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionStep struct {
	Name  string            `yaml:"name"`
	ID    string            `yaml:"id"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	With  map[string]string `yaml:"with"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Env   map[string]string `yaml:"env"`
}

// actionRun is what a job that used the action ends with.
type actionRun struct {
	workspace string
	exitCode  int    // of the first failed step, 0 when none failed
	log       string // every step's output
	outputs   map[string]string
	summary   string
	uploads   []string // paths the upload-artifact steps would upload
}

func loadAction(t *testing.T, repoRoot string) compositeAction {
	t.Helper()
	var a compositeAction
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(repoRoot, "action.yml"))), &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action.yml: runs.using = %q, want composite", a.Runs.Using)
	}
	return a
}

func testGitHubAction(t *testing.T, f *fixture) {
	action := loadAction(t, f.repoRoot)
	assertInjectionSafe(t, action)
	overrides := "baseUrl=" + f.target + "\n# a comment, then a blank line\n\nrateMultiplier=1\n"
	cases := []struct {
		name     string
		why      string
		inputs   map[string]string
		jobEnv   map[string]string // the workflow's env: for the script's extra knobs
		wantExit int
		verdict  string
		wantLog  string
	}{{
		name: "passes", why: "the default build from the action's own source, then a plan whose criteria hold",
		inputs:   map[string]string{"plan": "loadtests/pass.json", "token": apiToken, "set": overrides},
		wantExit: 0, verdict: "passed", wantLog: "PASS  errors.rate",
	}, {
		name: "criteria fail", why: "a completed run whose p95 criterion fails must fail the job; the release is downloaded and verified",
		inputs:   map[string]string{"plan": "loadtests/fail.json", "token": apiToken, "set": overrides, "version": releaseVersion},
		jobEnv:   map[string]string{"LOADFLEET_RELEASE_URL": f.releaseURL},
		wantExit: 1, verdict: "failed", wantLog: "::error title=loadfleet::criteria failed",
	}, {
		name: "criteria fail, not gating", why: "fail-on-criteria false reports the failure but lets the job go on",
		inputs: map[string]string{"plan": "loadtests/fail.json", "token": apiToken, "set": overrides,
			"version": releaseVersion, "fail-on-criteria": "false"},
		jobEnv:   map[string]string{"LOADFLEET_RELEASE_URL": f.releaseURL},
		wantExit: 0, verdict: "failed", wantLog: "::warning title=loadfleet::criteria failed",
	}, {
		name: "wrong token", why: "a token the server refuses fails the job and says it is the token",
		inputs:   map[string]string{"plan": "loadtests/pass.json", "token": "not-the-token", "set": overrides, "version": releaseVersion},
		jobEnv:   map[string]string{"LOADFLEET_RELEASE_URL": f.releaseURL},
		wantExit: 2, verdict: "invalid", wantLog: "the server refused the API token",
	}, {
		name: "invalid plan", why: "a plan the server refuses is invalid input (2), not a failed verdict",
		inputs:   map[string]string{"plan": "loadtests/invalid.json", "token": apiToken, "version": releaseVersion},
		jobEnv:   map[string]string{"LOADFLEET_RELEASE_URL": f.releaseURL},
		wantExit: 2, verdict: "invalid", wantLog: "invalid input",
	}, {
		name: "no plan", why: "a missing required input is named before anything runs",
		inputs:   map[string]string{"token": apiToken},
		wantExit: 2, verdict: "error", wantLog: "no plan: set LOADFLEET_PLAN",
	}, {
		name: "checksum mismatch", why: "a downloaded binary that does not match its checksum is never run",
		inputs: map[string]string{"plan": "loadtests/pass.json", "token": apiToken, "version": releaseVersion},
		jobEnv: map[string]string{"LOADFLEET_RELEASE_URL": f.releaseURL,
			"LOADFLEET_SHA256": strings.Repeat("0", 64)},
		wantExit: 3, verdict: "error", wantLog: "checksum mismatch",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inputs := map[string]string{"server": f.server}
			for k, v := range tc.inputs {
				inputs[k] = v
			}
			run := runAction(t, f, action, inputs, tc.jobEnv)
			if run.exitCode != tc.wantExit || !strings.Contains(run.log, tc.wantLog) {
				t.Fatalf("%s: exit %d, want %d; log should contain %q:\n%s", tc.why, run.exitCode, tc.wantExit, tc.wantLog, run.log)
			}
			if run.outputs["verdict"] != tc.verdict {
				t.Errorf("%s: output verdict = %q, want %q (outputs %v)", tc.why, run.outputs["verdict"], tc.verdict, run.outputs)
			}
			assertNoToken(t, "the job log", run.log)
			assertNoToken(t, "the step summary", run.summary)
			if tc.verdict == "passed" || tc.verdict == "failed" {
				assertRunFiles(t, run, tc.verdict)
			}
		})
	}
}

// assertRunFiles checks what a completed run leaves: the uploaded files,
// the JUnit agreeing with the verdict, the outputs and the summary.
func assertRunFiles(t *testing.T, run actionRun, verdict string) {
	t.Helper()
	if len(run.uploads) == 0 {
		t.Fatal("no upload-artifact step ran")
	}
	for _, p := range run.uploads {
		if _, err := os.Stat(filepath.Join(run.workspace, p)); err != nil {
			t.Errorf("upload-artifact would miss %s: %v", p, err)
		}
	}
	report := filepath.Join(run.workspace, run.outputs["report"])
	if html := readFile(t, report); !strings.Contains(html, "<html") {
		t.Errorf("%s is not an HTML report", report)
	}
	junit := readFile(t, filepath.Join(run.workspace, run.outputs["junit"]))
	wantFailures := map[string]string{"passed": `failures="0"`, "failed": `failures="1"`}[verdict]
	if !strings.Contains(junit, wantFailures) || (verdict == "failed") != strings.Contains(junit, "<failure") {
		t.Errorf("JUnit of a %s run should say %s:\n%s", verdict, wantFailures, junit)
	}
	if want := fmt.Sprint(map[string]int{"passed": 0, "failed": 1}[verdict]); run.outputs["exit-code"] != want {
		t.Errorf("output exit-code = %q, want %s", run.outputs["exit-code"], want)
	}
	if !strings.Contains(run.summary, "loadfleet: "+verdict) || !strings.Contains(run.summary, "criteria:") {
		t.Errorf("step summary lacks the verdict or the criteria:\n%s", run.summary)
	}
}

// assertInjectionSafe checks that no run step splices an expression into
// its shell code: inputs reach the shell as environment variables.
func assertInjectionSafe(t *testing.T, a compositeAction) {
	t.Helper()
	uploads := 0
	for _, s := range a.Runs.Steps {
		if s.Run != "" && expressionPattern.MatchString(s.Run) {
			t.Errorf("step %q puts an expression in its shell code; pass it through env", s.Name)
		}
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			uploads++
			if !strings.Contains(s.If, "always()") {
				t.Errorf("upload step %q must run when the plan step failed: if: always()", s.Name)
			}
		}
	}
	if uploads != 1 {
		t.Errorf("want one actions/upload-artifact step, found %d", uploads)
	}
}

// runner plays a GitHub runner for one job using the action.
type runner struct {
	t           *testing.T
	action      compositeAction
	actionPath  string
	workspace   string
	temp        string
	inputs      map[string]string
	env         []string // the job's environment, grown by GITHUB_ENV
	stepOutputs map[string]map[string]string
}

func runAction(t *testing.T, f *fixture, action compositeAction, given, jobEnv map[string]string) actionRun {
	t.Helper()
	r := &runner{t: t, action: action, actionPath: f.repoRoot, workspace: t.TempDir(), temp: t.TempDir(),
		inputs: map[string]string{}, stepOutputs: map[string]map[string]string{}}
	writePlans(t, r.workspace)
	for name, in := range action.Inputs {
		r.inputs[name] = in.Default
	}
	for name, v := range given {
		if _, ok := action.Inputs[name]; !ok {
			t.Fatalf("action.yml has no input %q", name)
		}
		r.inputs[name] = v
	}
	r.env = append(cleanEnv(), "GITHUB_ACTIONS=true", "CI=true", "GITHUB_WORKSPACE="+r.workspace, "RUNNER_TEMP="+r.temp)
	for k, v := range jobEnv {
		r.env = append(r.env, k+"="+v)
	}
	result := actionRun{workspace: r.workspace, outputs: map[string]string{}}
	var log, summary strings.Builder
	for i, step := range action.Runs.Steps {
		if result.exitCode != 0 && !strings.Contains(step.If, "always()") {
			continue // a failed step skips the rest, as on GitHub
		}
		if step.Uses != "" {
			if strings.HasPrefix(step.Uses, "actions/upload-artifact@") {
				result.uploads = append(result.uploads, nonEmptyLines(r.eval(step.With["path"]))...)
			}
			continue // other actions (setup-go) prepare what this machine has
		}
		code, out, stepSummary := r.runStep(i, step)
		log.WriteString(out)
		summary.WriteString(stepSummary)
		if code != 0 && result.exitCode == 0 {
			result.exitCode = code
		}
	}
	for name, o := range action.Outputs {
		result.outputs[name] = r.eval(o.Value)
	}
	result.log, result.summary = log.String(), summary.String()
	return result
}

// runStep runs a run step as the runner does for shell: bash, with fresh
// GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY files.
func (r *runner) runStep(index int, step actionStep) (code int, output, summary string) {
	t := r.t
	if step.Shell != "bash" {
		t.Fatalf("step %q: shell %q; composite run steps must name bash", step.Name, step.Shell)
	}
	dir := filepath.Join(r.temp, fmt.Sprintf("step-%d", index))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"GITHUB_OUTPUT": "output", "GITHUB_ENV": "env", "GITHUB_STEP_SUMMARY": "summary"}
	env := append([]string{}, r.env...)
	for name, file := range files {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"="+path)
	}
	env = append(env, "GITHUB_ACTION_PATH="+r.actionPath)
	for k, v := range step.Env {
		env = append(env, k+"="+r.eval(v))
	}
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte(step.Run), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir, cmd.Env = r.workspace, env
	out, err := cmd.CombinedOutput()
	if step.ID != "" {
		r.stepOutputs[step.ID] = parseRunnerFile(t, filepath.Join(dir, "output"))
	}
	for k, v := range parseRunnerFile(t, filepath.Join(dir, "env")) {
		r.env = append(r.env, k+"="+v)
	}
	return exitCode(t, err), string(out), readFile(t, filepath.Join(dir, "summary"))
}

// eval substitutes the ${{ }} expressions the action uses; any other
// expression fails the test, so the emulation never silently diverges.
func (r *runner) eval(s string) string {
	return expressionPattern.ReplaceAllStringFunc(s, func(m string) string {
		expr := expressionPattern.FindStringSubmatch(m)[1]
		parts := strings.Split(expr, ".")
		switch {
		case len(parts) == 2 && parts[0] == "inputs":
			if v, ok := r.inputs[parts[1]]; ok {
				return v
			}
		case expr == "github.action_path":
			return r.actionPath
		case expr == "github.workspace":
			return r.workspace
		case expr == "runner.temp":
			return r.temp
		case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
			return r.stepOutputs[parts[1]][parts[3]]
		}
		r.t.Fatalf("action.yml: expression %q is not one this emulation knows", expr)
		return ""
	})
}

func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
