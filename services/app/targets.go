package app

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/loadfleet/loadfleet/services/validator"
)

// Targets a server can run. Each deployment runs one; "all" runs every
// service in one process.
const (
	TargetAll       = "all"
	TargetValidator = "validator"
	TargetMetadata  = "metadata"
	TargetJob       = "job"
	TargetReporting = "reporting"
	TargetWorker    = "worker"
)

// Internal modules: dependencies of targets that serve nothing themselves.
const (
	moduleGitSource = "gitsource"
	moduleStore     = "store"
)

// module is one node of the static target graph.
type module struct {
	name string
	deps []string
	// after names modules this one uses in process when the target runs
	// them (else it uses their client), so they must be constructed first.
	after []string
	// target says whether --target may name it.
	target bool
	about  string
	init   func(a *App) error
}

// graph returns the static target graph, dependencies before dependents.
func graph() []module {
	return []module{
		{name: moduleGitSource, about: "fetches the git sources of plans into the cache",
			init: (*App).initGitSource},
		{name: TargetValidator, deps: []string{moduleGitSource}, target: true,
			about: "validates plans: POST " + validator.ValidatePath, init: (*App).initValidator},
		{name: moduleStore, about: "opens the metadata store (SQLite or MongoDB)", init: (*App).initStore},
		{name: TargetMetadata, deps: []string{moduleStore}, target: true,
			about: "tests, runs and reports: /v1/tests, /v1/runs", init: (*App).initMetadata},
		{name: TargetJob, target: true,
			about: "starts and stops executors at locations: /v1/jobs", init: (*App).initJob},
		{name: TargetReporting, deps: []string{moduleStore}, target: true,
			about: "ingest, merge, series, criteria, reports, notifications: /v1/ingest", init: (*App).initReporting},
		{name: TargetWorker, deps: []string{moduleGitSource, moduleStore},
			after: []string{TargetJob, TargetReporting}, target: true,
			about: "claims and drives runs; the executor API: /v1/executor", init: (*App).initWorker},
		{name: TargetAll, deps: []string{TargetValidator, TargetMetadata, TargetJob, TargetReporting, TargetWorker},
			target: true, about: "every service in one process"},
	}
}

// Targets returns the names --target accepts, in graph order.
func Targets() []string {
	var names []string
	for _, m := range graph() {
		if m.target {
			names = append(names, m.name)
		}
	}
	return names
}

// resolve returns the modules target needs, dependencies first.
func resolve(target string) ([]module, error) {
	byName := map[string]module{}
	for _, m := range graph() {
		byName[m.name] = m
	}
	if m, ok := byName[target]; !ok || !m.target {
		return nil, fmt.Errorf("%w %q (targets: %s)", ErrUnknownTarget, target, strings.Join(Targets(), ", "))
	}
	in := map[string]bool{} // the modules target needs, by deps alone
	var need func(name string)
	need = func(name string) {
		if !in[name] {
			in[name] = true
			for _, d := range byName[name].deps {
				need(d)
			}
		}
	}
	need(target)
	var order []module
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		m := byName[name]
		for _, d := range m.deps {
			visit(d)
		}
		for _, d := range m.after {
			if in[d] {
				visit(d)
			}
		}
		order = append(order, m)
	}
	visit(target)
	return order, nil
}

// ListTargets writes the target graph: every module, what it depends on
// (transitively) and what it does.
func ListTargets(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tRUNS\tWHAT")
	for _, m := range graph() {
		order, err := resolve(m.name)
		name := m.name
		if err != nil { // an internal module: list it for the graph's sake
			name, order = "("+m.name+")", []module{m}
		}
		runs := make([]string, 0, len(order))
		for _, dep := range order {
			runs = append(runs, dep.name)
		}
		slices.Reverse(runs)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, strings.Join(runs, ", "), m.about)
	}
	return tw.Flush()
}
