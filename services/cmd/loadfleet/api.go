package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
	"github.com/loadfleet/loadfleet/services/metadata"
	"github.com/loadfleet/loadfleet/services/metadata/metadataclient"
	"github.com/loadfleet/loadfleet/services/metadata/store"
)

// apiFlags are the flags of the commands that talk to a server.
type apiFlags struct {
	server string
	token  string
	output string
}

func (f *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", "http://127.0.0.1:8080", "URL of the loadfleet server (its metadata service)")
	fs.StringVar(&f.token, "token", "", "API token, sent as a bearer token")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
}

// httpClient carries the API token to the server's other APIs.
func (f *apiFlags) httpClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &httpserver.BearerTransport{Token: f.token}}
}

func (f *apiFlags) checkOutput() error {
	if f.output != "text" && f.output != "json" {
		return usageErrorf("--output must be text or json, not %q", f.output)
	}
	return nil
}

func (f *apiFlags) client() (metadata.API, error) {
	if err := f.checkOutput(); err != nil {
		return nil, err
	}
	return metadataclient.New(f.server, f.token, nil), nil
}

// apiError turns a service error into the CLI's exit: invalid input lists
// every problem.
func apiError(err error) error {
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		lines := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			lines[i] = "  " + printable(p.String())
		}
		return failed(fmt.Errorf("invalid input:\n%s", strings.Join(lines, "\n")))
	}
	return failed(err)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRunsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List, show and abort runs on a server"}
	cmd.AddCommand(newRunsListCommand(), newRunsShowCommand(), newRunsAbortCommand())
	return cmd
}

func newRunsListCommand() *cobra.Command {
	var f apiFlags
	var filter store.RunFilter
	var states, since string
	cmd := &cobra.Command{
		Use:   "list [--team T] [--project P] [--state S,...] [--since DURATION|TIME]",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := f.client()
			if err != nil {
				return err
			}
			for _, s := range splitList(states) {
				filter.States = append(filter.States, store.State(s))
			}
			if since != "" {
				if filter.Since, err = parseSince(since, time.Now()); err != nil {
					return usageErrorf("--since: %v", err)
				}
			}
			runs, err := api.Runs(cmd.Context(), filter)
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), runs)
			}
			return printRuns(cmd.OutOrStdout(), runs)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&filter.Team, "team", "", "only this team's runs")
	cmd.Flags().StringVar(&filter.Project, "project", "", "only this project's runs")
	cmd.Flags().StringVar(&states, "state", "", "only runs in these states (comma-separated)")
	cmd.Flags().StringVar(&since, "since", "", "only runs created since: a duration ago (24h) or an RFC 3339 time")
	cmd.Flags().IntVar(&filter.Limit, "limit", 50, "at most this many runs")
	return cmd
}

func printRuns(w io.Writer, runs []store.Run) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATE\tTEAM\tPROJECT\tCREATED\tSHARDS\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", printable(r.ID), printable(string(r.State)),
			printable(r.Team), printable(r.Project), r.Created.Local().Format("2006-01-02 15:04:05"), len(r.Shards),
			truncate(printable(r.Reason), 60))
	}
	return tw.Flush()
}

func newRunsShowCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: its state, transitions and shards",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := f.client()
			if err != nil {
				return err
			}
			run, err := api.Run(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), run)
			}
			return printRun(cmd.OutOrStdout(), run)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// printRun prints a run; every string in it may come from a user (labels,
// reasons quoting a plan), so each goes through printable.
func printRun(w io.Writer, r store.Run) error {
	fmt.Fprintf(w, "run %s: %s\n", printable(r.ID), printable(string(r.State)))
	fmt.Fprintf(w, "team %s, project %s, created %s\n", printable(r.Team), printable(r.Project),
		r.Created.Local().Format(time.RFC3339))
	if r.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", printable(r.Reason))
	}
	if r.Source != nil {
		fmt.Fprintf(w, "source: %s @ %s (%s)\n", printable(r.Source.URL), printable(r.Source.Ref), printable(r.Source.Commit))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nAT\tFROM\tTO\tREASON")
	for _, t := range r.Transitions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.At.Local().Format("15:04:05.000"), printable(string(t.From)),
			printable(string(t.To)), printable(t.Reason))
	}
	if len(r.Shards) > 0 {
		fmt.Fprintln(tw, "\nSHARD\tLOCATION\tATTEMPT\tREADY\tDONE\tCLOCK OFFSET")
		for _, s := range r.Shards {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%v\t%v\t%s\n", s.Index, printable(s.Location), s.Attempt, s.Ready, s.Done, s.ClockOffset)
		}
	}
	for _, d := range r.Degraded {
		end := "ongoing"
		if d.End != nil {
			end = d.End.Sub(d.Start).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "degraded from %s for %s: %s\n", d.Start.Local().Format("15:04:05"), end, printable(d.Reason))
	}
	return tw.Flush()
}

func newRunsAbortCommand() *cobra.Command {
	var f apiFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "abort RUN [--reason TEXT]",
		Short: "Abort a run: its executors stop within seconds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := f.client()
			if err != nil {
				return err
			}
			run, err := api.AbortRun(cmd.Context(), args[0], reason)
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), run)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s: %s (abort requested)\n", printable(run.ID), printable(string(run.State)))
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the run")
	return cmd
}

func newTestsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tests", Short: "List and save tests (versioned plans) on a server"}
	cmd.AddCommand(newTestsListCommand(), newTestsCreateCommand())
	return cmd
}

func newTestsListCommand() *cobra.Command {
	var f apiFlags
	var filter store.TestFilter
	cmd := &cobra.Command{
		Use:   "list [--team T] [--project P]",
		Short: "List saved tests (their latest versions)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := f.client()
			if err != nil {
				return err
			}
			tests, err := api.Tests(cmd.Context(), filter)
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), tests)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TEST\tVERSION\tNAME\tTEAM\tPROJECT\tSAVED")
			for _, t := range tests {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", printable(t.ID), t.Version, printable(t.Name),
					printable(t.Team), printable(t.Project), t.Created.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&filter.Team, "team", "", "only this team's tests")
	cmd.Flags().StringVar(&filter.Project, "project", "", "only this project's tests")
	cmd.Flags().IntVar(&filter.Limit, "limit", 100, "at most this many tests")
	return cmd
}

func newTestsCreateCommand() *cobra.Command {
	var f apiFlags
	var id string
	cmd := &cobra.Command{
		Use:   "create PLAN [--id TEST]",
		Short: "Save a plan as a test, or as a new version of test --id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := f.client()
			if err != nil {
				return err
			}
			doc, err := readPlanFile(args[0])
			if err != nil {
				return failed(err)
			}
			t, err := api.CreateTest(cmd.Context(), id, doc)
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return writeJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved test %s version %d (%s)\n", printable(t.ID), t.Version, printable(t.Name))
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&id, "id", "", "save as a new version of this test")
	return cmd
}

func readPlanFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, plan.MaxPlanBytes+1))
	}
	return os.ReadFile(path)
}

// parseSince reads "24h" (that long ago) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// truncate shortens s to n runes, never cutting one in half.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
