package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/schemas/schedule"
	"github.com/loadfleet/loadfleet/services/app"
	"github.com/loadfleet/loadfleet/services/validator"
)

// Output formats of validate.
const (
	outputText = "text"
	outputJSON = "json"
)

type validateOptions struct {
	explain bool
	output  string
	offline bool
	config  *configFlags
}

func newValidateCommand() *cobra.Command {
	o := &validateOptions{output: outputText, config: newConfigFlags()}
	cmd := &cobra.Command{
		Use:   "validate [--explain] [--output text|json] PLAN...",
		Short: "Check test plans and explain the load they describe",
		Long: `Validate checks every plan completely and lists every problem with its JSON
pointer: syntax (with line and column), the schema, the semantic rules, this
server's ceilings, the git source (fetched into the user cache directory
unless --offline) and the files the plan references (relative to the plan
file when it has no git source).

Exit status: 0 when every plan is valid, 1 when any is not, 2 on usage errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.explain, "explain", false, "print the load as it will run: steps, totals, executors, shards")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: text or json (one object per plan and line)")
	f.BoolVar(&o.offline, "offline", false, "do not fetch git sources (their files are then not checked)")
	o.config.register(f)
	return cmd
}

// fileResult is one validated plan file.
type fileResult struct {
	file string
	res  *validator.Result
}

func (o *validateOptions) run(cmd *cobra.Command, files []string) error {
	if o.output != outputText && o.output != outputJSON {
		return usageErrorf("--output must be %q or %q, not %q", outputText, outputJSON, o.output)
	}
	cfg, err := o.config.config()
	if err != nil {
		return usageErrorf("%v", err)
	}
	logger := newLogger(cmd.ErrOrStderr(), o.config.logLevel)
	v, err := app.NewValidator(cfg, logger, nil)
	if err != nil {
		return usageErrorf("%v", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	allValid := true
	for _, file := range files {
		fr, err := o.validateFile(ctx, v, file)
		if err != nil {
			return failed(err)
		}
		allValid = allValid && fr.res.Valid
		for _, note := range fr.res.Notes {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: note: %s\n", printable(file), printable(note))
		}
		if err := o.print(cmd.OutOrStdout(), fr); err != nil {
			return failed(err)
		}
	}
	if !allValid {
		return &exitError{code: exitFailure}
	}
	return nil
}

// validateFile validates one plan file. A file that cannot be read is an
// invalid plan (the author has to fix it like any other problem); the error
// is for the validator failing (an unwritable git cache, an interrupt).
func (o *validateOptions) validateFile(ctx context.Context, v *validator.Service, file string) (fileResult, error) {
	data, problem := readPlan(file)
	if problem != nil {
		return fileResult{file, &validator.Result{Reason: validator.ReasonInvalid,
			Problems: []plan.Problem{*problem}}}, nil
	}
	res, err := v.Validate(ctx, data, validator.Options{
		Dir:     os.DirFS(filepath.Dir(file)),
		Offline: o.offline,
	})
	if err != nil {
		return fileResult{}, fmt.Errorf("%s: %w", file, err)
	}
	return fileResult{file, res}, nil
}

// readPlan reads a plan file, never more than one byte over the size
// limit, so that the validator still sees that it is too large.
func readPlan(file string) ([]byte, *plan.Problem) {
	f, err := os.Open(file)
	if err != nil {
		return nil, &plan.Problem{Message: fmt.Sprintf("cannot read the plan: %v", err)}
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > plan.MaxPlanBytes {
		return nil, &plan.Problem{Message: fmt.Sprintf("plan is %d bytes; the limit is %d bytes (1 MiB)",
			st.Size(), plan.MaxPlanBytes)}
	}
	data, err := io.ReadAll(io.LimitReader(f, plan.MaxPlanBytes+1))
	if err != nil {
		return nil, &plan.Problem{Message: fmt.Sprintf("cannot read the plan: %v", err)}
	}
	return data, nil
}

func (o *validateOptions) print(w io.Writer, fr fileResult) error {
	if o.output == outputJSON {
		return printJSON(w, fr, o.explain)
	}
	return printText(w, fr, o.explain)
}

// jsonResult is one line of --output json.
type jsonResult struct {
	File     string                `json:"file"`
	Valid    bool                  `json:"valid"`
	Problems []plan.Problem        `json:"problems"`
	Explain  *schedule.Explanation `json:"explain,omitempty"`
	Source   *validator.SourceInfo `json:"source,omitempty"`
}

func printJSON(w io.Writer, fr fileResult, explain bool) error {
	out := jsonResult{File: fr.file, Valid: fr.res.Valid, Problems: fr.res.Problems,
		Source: fr.res.Source}
	if out.Problems == nil {
		out.Problems = []plan.Problem{}
	}
	if explain {
		out.Explain = fr.res.Explain
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func printText(w io.Writer, fr fileResult, explain bool) error {
	if !fr.res.Valid {
		for _, p := range fr.res.Problems {
			if _, err := fmt.Fprintf(w, "%s: %s\n", printable(fr.file), printable(problemText(p))); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := fmt.Fprintf(w, "%s: valid\n", printable(fr.file)); err != nil {
		return err
	}
	if explain && fr.res.Explain != nil {
		return writeExplanation(w, fr.res.Explain, fr.res.Source)
	}
	return nil
}

// problemText is "PATH: message", "line L, column C: message" for syntax
// errors, and just the message for the document as a whole.
func problemText(p plan.Problem) string {
	if p.Path == "" && p.Line == 0 {
		return p.Message
	}
	return p.String()
}
