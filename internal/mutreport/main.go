// Command mutreport turns the JSON reports of gremlins (one per package,
// written by `make mutate`) into a Markdown table with the targets of
// issue 14, and lists every mutant that survived so that each can be
// killed by a test or explained. It exits 1 when a package misses a
// target.
//
// Usage: go run ./internal/mutreport [-efficacy 90] [-coverage 85] report.json...
//
// An argument name=dry.log+run.log instead reads the text output of a
// gremlins --dry-run (every mutant, RUNNABLE or NOT COVERED) and of a run
// that was stopped before the end: the row is marked partial, with the
// efficacy of the mutants tested so far.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
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
		if name, logs, isLog := strings.Cut(p, "="); isLog {
			dry, run, _ := strings.Cut(logs, "+")
			row, survivors, met, err := partial(name, dry, run, efficacy, coverage)
			if err != nil {
				return false, err
			}
			fmt.Fprintln(w, row)
			lived = append(lived, survivors...)
			ok = ok && met
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return false, err
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return false, fmt.Errorf("%s: %w", p, err)
		}
		pkg := strings.TrimSuffix(filepath.Base(p), ".json")
		// gremlins' mutants_total leaves out the mutants not covered and
		// timed out; count every mutant, as the rows from logs do.
		timedOut, total := 0, 0
		for _, f := range r.Files {
			for _, m := range f.Mutations {
				total++
				switch m.Status {
				case "TIMED OUT":
					timedOut++
				case "LIVED":
					lived = append(lived, fmt.Sprintf("%s/%s:%d:%d %s", pkg, f.Name, m.Line, m.Column, m.Type))
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
			pkg, total, r.Killed, r.Lived, timedOut, r.NotCovered, r.NotViable, r.Efficacy, r.Coverage, verdict)
	}
	sort.Strings(lived)
	fmt.Fprintf(w, "\nSurviving mutants (%d):\n\n", len(lived))
	for _, l := range lived {
		fmt.Fprintf(w, "- %s\n", l)
	}
	return ok, nil
}

// logLine is one mutant in gremlins' text output.
var logLine = regexp.MustCompile(`^\s*(KILLED|LIVED|NOT COVERED|TIMED OUT|NOT VIABLE|RUNNABLE|SKIPPED) ([A-Z_]+) at (\S+)$`)

// readLog returns position+type -> status for every mutant in a log.
func readLog(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := logLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[3]+" "+m[2]] = m[1]
		}
	}
	return out, sc.Err()
}

// partial makes the row of a package from a dry run (every mutant) and a
// possibly unfinished run.
func partial(pkg, dryPath, runPath string, efficacy, coverage float64) (string, []string, bool, error) {
	dry, err := readLog(dryPath)
	if err != nil {
		return "", nil, false, err
	}
	run, err := readLog(runPath)
	if err != nil {
		return "", nil, false, err
	}
	var total, notCovered, killed, lived, timedOut, notViable, runnable int
	var survivors []string
	for k, st := range dry {
		total++
		if st == "NOT COVERED" {
			notCovered++
			continue
		}
		runnable++
		switch run[k] {
		case "KILLED":
			killed++
		case "LIVED":
			lived++
			survivors = append(survivors, pkg+"/"+k)
		case "TIMED OUT":
			timedOut++
		case "NOT VIABLE":
			notViable++
		}
	}
	tested := killed + lived + timedOut + notViable
	eff, cov := 0.0, 0.0
	if killed+lived > 0 {
		eff = float64(killed) / float64(killed+lived) * 100
	}
	if runnable+notCovered > 0 {
		cov = float64(runnable) / float64(runnable+notCovered) * 100
	}
	verdict := fmt.Sprintf("partial: %d of %d runnable mutants tested", tested, runnable)
	met := tested == runnable && eff >= efficacy && cov >= coverage
	if tested == runnable {
		verdict = "met"
		if !met {
			verdict = "**missed**"
		}
	}
	row := fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d | %.1f%% | %.1f%% | %s |",
		pkg, total, killed, lived, timedOut, notCovered, notViable, eff, cov, verdict)
	return row, survivors, met, nil
}
