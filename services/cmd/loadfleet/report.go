package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loadfleet/loadfleet/services/reporting/report"
)

// renderings of a report document, by --format.
var renderings = map[string]func(io.Writer, *report.Document) error{
	"html":  report.HTML,
	"junit": report.JUnit,
	"md":    report.Markdown,
	"json": func(w io.Writer, d *report.Document) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	},
}

func newReportCommand() *cobra.Command {
	var f apiFlags
	var format, out string
	cmd := &cobra.Command{
		Use:   "report RUN [--format html|json|junit|md] [--out FILE]",
		Short: "Render a finished run's report: self-contained HTML, JSON, JUnit XML or Markdown",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			render, ok := renderings[format]
			if !ok {
				return usageErrorf("--format must be html, json, junit or md, not %q", format)
			}
			api, err := f.client()
			if err != nil {
				return err
			}
			raw, err := api.Report(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			var doc report.Document
			if err := json.Unmarshal(raw, &doc); err != nil {
				return failed(fmt.Errorf("the server's report of %s does not parse: %w", args[0], err))
			}
			if out == "" {
				if err := render(cmd.OutOrStdout(), &doc); err != nil {
					return failed(err)
				}
				return nil
			}
			if err := writeFile(out, &doc, render); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "html", "html, json, junit or md")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}
