package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// The deploy artefacts checked here, relative to this package.
var (
	prometheusDir = filepath.Join("..", "deploy", "prometheus")
	dashboardPath = filepath.Join("..", "deploy", "grafana", "shardproxy.json")
)

// TestPromtoolDeploy validates the Prometheus configuration and rules and
// runs the alert unit tests with promtool.
func TestPromtoolDeploy(t *testing.T) {
	promtool := testenv.RequireBinary(t, "promtool")
	tests := []struct {
		name string
		args []string
	}{
		{"check config", []string{"check", "config", "prometheus.yml"}},
		{"check rules", []string{"check", "rules", "alerts.yml"}},
		{"test rules", []string{"test", "rules", "alerts_test.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(promtool, tt.args...)
			cmd.Dir = prometheusDir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "SUCCESS") {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
		})
	}
}

// alertRules is the part of a Prometheus rule file read here.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTests is the part of a promtool rule test file read here.
type ruleTests struct {
	Tests []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// dashboard is the part of a Grafana dashboard read here.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int            `json:"id"`
		Type       string         `json:"type"`
		Title      string         `json:"title"`
		Datasource *datasourceRef `json:"datasource"`
		GridPos    struct{ H, W, X, Y int }
		Targets    []struct {
			RefID      string         `json:"refId"`
			Expr       string         `json:"expr"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readAlertRules(t *testing.T) alertRules {
	t.Helper()
	var r alertRules
	readYAML(t, filepath.Join(prometheusDir, "alerts.yml"), &r)
	if len(r.Groups) == 0 {
		t.Fatal("alerts.yml has no rule groups")
	}
	return r
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// TestAlertsAreAllTested requires alerts_test.yml to show every alert of
// alerts.yml both firing and not firing.
func TestAlertsAreAllTested(t *testing.T) {
	var tests ruleTests
	readYAML(t, filepath.Join(prometheusDir, "alerts_test.yml"), &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, g := range readAlertRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			t.Run(r.Alert, func(t *testing.T) {
				if !fires[r.Alert] {
					t.Error("no test shows it firing")
				}
				if !quiet[r.Alert] {
					t.Error("no test shows it not firing")
				}
			})
		}
	}
}

// TestDashboardStructure checks that the dashboard is importable: a
// datasource variable that every panel and query uses, unique panel ids and
// query refIds, and panels that fit the 24-column grid without overlapping.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both must be set", d.Title, d.UID)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s does not use ${datasource}", v.Name)
		}
	}
	if !hasDS {
		t.Error(`no templating variable "datasource" of type datasource for prometheus`)
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps panel %q at %d,%d", p.Title, other, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: query %q with refId %q is empty or repeats a refId", p.Title, q.Expr, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s does not use ${datasource}", p.Title, q.RefID)
			}
		}
	}
}

// TestDeployReferencesKnownMetrics checks every PromQL expression of the
// alerts, every input series of the alert tests and every dashboard query
// against the registry after every handle was used once: metric names,
// label names, and values of the fixed-set labels (result, kind) must exist.
// It also requires the dashboard to show every shardproxy_ family.
func TestDeployReferencesKnownMetrics(t *testing.T) {
	known := knownSeries(t, driveEverything(t))

	var exprs []string
	for _, g := range readAlertRules(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	t.Run("alerts.yml", func(t *testing.T) { checkExprs(t, known, exprs) })

	var tests ruleTests
	readYAML(t, filepath.Join(prometheusDir, "alerts_test.yml"), &tests)
	var series []string
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			series = append(series, s.Series)
		}
	}
	t.Run("alerts_test.yml", func(t *testing.T) { checkExprs(t, known, series) })

	d := readDashboard(t)
	var queries []string
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			queries = append(queries, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		queries = append(queries, q.Query)
	}
	t.Run("shardproxy.json", func(t *testing.T) {
		used := checkExprs(t, known, queries)
		for _, fam := range known.families {
			if !strings.HasPrefix(fam, Namespace+"_") {
				continue
			}
			if !slices.ContainsFunc(used, func(n string) bool { return familyOf(n) == fam }) {
				t.Errorf("the dashboard shows no panel for %s", fam)
			}
		}
	})
}

// TestCheckExprsRejects makes sure the expression checker itself catches the
// mistakes it exists for.
func TestCheckExprsRejects(t *testing.T) {
	known := knownSeries(t, driveEverything(t))
	tests := []struct {
		name, expr string
	}{
		{"unknown metric", `rate(shardproxy_command_total[5m])`},
		{"unsuffixed histogram", `histogram_quantile(0.99, rate(shardproxy_command_duration_seconds[5m]))`},
		{"unknown label in by", `sum by (pol) (shardproxy_client_connections)`},
		{"unknown label in matcher", `shardproxy_backend_up{server_name="x"}`},
		{"unknown result", `shardproxy_commands_total{result="proxyerror"}`},
		{"unknown kind in regex", `shardproxy_backend_errors_total{kind=~"timeout|refused"}`},
		{"label_values unknown label", `label_values(shardproxy_build_info, versions)`},
		{"unknown function", `ratez(shardproxy_commands_total[5m])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if problems := exprProblems(known, tt.expr); len(problems) == 0 {
				t.Errorf("%s: no problem found", tt.expr)
			}
		})
	}
	for _, ok := range []string{
		`sum by (job, instance, pool) (rate(shardproxy_commands_total{result=~"error|proxy_error"}[5m])) > 0.05`,
		`label_values(shardproxy_client_connections{instance=~"$instance"}, pool)`,
		`up{job="shardproxy"} == 0`,
	} {
		if problems := exprProblems(known, ok); len(problems) > 0 {
			t.Errorf("%s: unexpected problems %v", ok, problems)
		}
	}
}

// known is what a registry exposes: metric names as they appear in
// queries (with _bucket/_sum/_count for histograms and summaries), label
// names, and the values seen for the fixed-set labels.
type known struct {
	families []string
	names    map[string]bool
	labels   map[string]bool
	values   map[string]map[string]bool // label -> values, for result and kind
}

func knownSeries(t *testing.T, m *Metrics) known {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	k := known{
		names: map[string]bool{"up": true}, // made by Prometheus for each target
		// Target labels and the histogram/summary bucket labels.
		labels: map[string]bool{"job": true, "instance": true, "le": true, "quantile": true},
		values: map[string]map[string]bool{labelResult: {}, labelKind: {}},
	}
	for _, f := range fams {
		name := f.GetName()
		k.families = append(k.families, name)
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM: // no series under the bare name
			k.names[name+"_bucket"], k.names[name+"_sum"], k.names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			k.names[name], k.names[name+"_sum"], k.names[name+"_count"] = true, true, true
		default:
			k.names[name] = true
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				k.labels[l.GetName()] = true
				if vs, ok := k.values[l.GetName()]; ok {
					vs[l.GetValue()] = true
				}
			}
		}
	}
	return k
}

// checkExprs reports every problem of exprs and returns the metric names
// they use.
func checkExprs(t *testing.T, k known, exprs []string) []string {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatal("no expressions found")
	}
	var used []string
	for _, e := range exprs {
		for _, p := range exprProblems(k, e) {
			t.Errorf("%s\n  in: %s", p, e)
		}
		used = append(used, metricNames(e)...)
	}
	return used
}

var (
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	stringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	rangeRE    = regexp.MustCompile(`\[[^\]]*\]`)
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelValRE = regexp.MustCompile(`\blabel_values\s*\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	identRE    = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\b`)
	// PromQL functions, aggregations and keywords used or likely to be
	// used in the deploy files, plus Grafana's label_values.
	promqlWords = map[string]bool{
		"sum": true, "avg": true, "min": true, "max": true, "count": true, "topk": true, "bottomk": true,
		"quantile": true, "stddev": true, "group": true,
		"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "changes": true, "resets": true,
		"histogram_quantile": true, "absent": true, "absent_over_time": true, "clamp_min": true, "clamp_max": true,
		"avg_over_time": true, "max_over_time": true, "min_over_time": true, "sum_over_time": true,
		"last_over_time": true, "time": true, "vector": true, "scalar": true, "abs": true, "round": true,
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"label_values": true, "inf": true, "nan": true,
	}
)

// exprProblems lists what in expr does not exist in k. It is a lexical
// check, not a PromQL parser (promtool checks syntax): string literals,
// range selectors and grouping clauses are taken apart first, then every
// remaining identifier must be a PromQL word or a known metric name.
func exprProblems(k known, expr string) []string {
	var problems []string
	label := func(l, where string) {
		if !k.labels[l] {
			problems = append(problems, fmt.Sprintf("unknown label %q in %s", l, where))
		}
	}
	for _, m := range matcherRE.FindAllStringSubmatch(expr, -1) {
		label(m[1], "a matcher")
		vs, bounded := k.values[m[1]]
		if !bounded || strings.Contains(m[3], "$") || m[2] == "!~" || m[2] == "!=" {
			continue
		}
		for _, v := range strings.Split(m[3], "|") {
			if !vs[v] {
				problems = append(problems, fmt.Sprintf("label %s has no value %q", m[1], v))
			}
		}
	}
	rest := matcherRE.ReplaceAllString(expr, "")
	rest = stringRE.ReplaceAllString(rest, "")
	rest = rangeRE.ReplaceAllString(rest, "")
	if m := labelValRE.FindStringSubmatch(rest); m != nil {
		label(m[2], "label_values")
		rest = m[1]
	}
	for _, m := range groupingRE.FindAllStringSubmatch(rest, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				label(l, "a grouping clause")
			}
		}
	}
	rest = groupingRE.ReplaceAllString(rest, "")
	for _, id := range identRE.FindAllString(rest, -1) {
		if !promqlWords[strings.ToLower(id)] && !k.names[id] {
			problems = append(problems, fmt.Sprintf("unknown metric or function %q", id))
		}
	}
	return problems
}

// metricNames returns the identifiers of expr that look like metric names
// of this package.
func metricNames(expr string) []string {
	var out []string
	for _, id := range identRE.FindAllString(stringRE.ReplaceAllString(expr, ""), -1) {
		if strings.HasPrefix(id, Namespace+"_") {
			out = append(out, id)
		}
	}
	return out
}

// familyOf returns the family of a series name: name without a histogram
// or summary suffix.
func familyOf(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}
