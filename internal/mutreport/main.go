// Command mutreport turns the JSON reports of gremlins (one per package,
// written by `make mutate`) into a Markdown table with the targets of
// issue 14, and lists every mutant that survived so that each can be
// killed by a test or explained. It exits 1 when a package misses a
// target.
//
// Usage: go run ./internal/mutreport [-efficacy 90] [-coverage 85] report.json...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// report is the part of gremlins' JSON output (v0.6.0) that is used.
type report struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
	Efficacy   float64 `json:"test_efficacy"`
	Coverage   float64 `json:"mutations_coverage"`
	Total      int     `json:"mutants_total"`
	Killed     int     `json:"mutants_killed"`
	Lived      int     `json:"mutants_lived"`
	NotViable  int     `json:"mutants_not_viable"`
	NotCovered int     `json:"mutants_not_covered"`
	Elapsed    float64 `json:"elapsed_time"`
}

func main() {
	efficacy := flag.Float64("efficacy", 90, "target test efficacy, percent")
	coverage := flag.Float64("coverage", 85, "target mutator coverage, percent")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutreport [-efficacy N] [-coverage N] report.json...")
		os.Exit(2)
	}
	ok, err := write(os.Stdout, flag.Args(), *efficacy, *coverage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func write(w io.Writer, paths []string, efficacy, coverage float64) (bool, error) {
	ok := true
	var lived []string
	fmt.Fprintf(w, "| package | mutants | killed | lived | timed out | not covered | not viable | test efficacy | mutator coverage | targets (%.0f%% / %.0f%%) |\n", efficacy, coverage)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return false, err
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return false, fmt.Errorf("%s: %w", p, err)
		}
		pkg := strings.TrimSuffix(filepath.Base(p), ".json")
		timedOut := 0
		for _, f := range r.Files {
			for _, m := range f.Mutations {
				switch m.Status {
				case "TIMED OUT":
					timedOut++
				case "LIVED":
					lived = append(lived, fmt.Sprintf("%s:%d:%d %s", f.Name, m.Line, m.Column, m.Type))
				}
			}
		}
		met := r.Efficacy >= efficacy && r.Coverage >= coverage
		verdict := "met"
		if !met {
			verdict = "**missed**"
			ok = false
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %.1f%% | %.1f%% | %s |\n",
			pkg, r.Total, r.Killed, r.Lived, timedOut, r.NotCovered, r.NotViable, r.Efficacy, r.Coverage, verdict)
	}
	sort.Strings(lived)
	fmt.Fprintf(w, "\nSurviving mutants (%d):\n\n", len(lived))
	for _, l := range lived {
		fmt.Fprintf(w, "- %s\n", l)
	}
	return ok, nil
}
