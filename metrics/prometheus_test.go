package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestPrometheusRunsDashboardQueries serves the metrics endpoint, lets a
// real Prometheus scrape it, and runs every dashboard query (Grafana
// variables substituted) and every alert expression against it: each must
// be valid PromQL, and each dashboard query must return series, so the
// dashboard matches what the proxy actually exports.
func TestPrometheusRunsDashboardQueries(t *testing.T) {
	m := driveEverything(t)
	s, err := Serve("127.0.0.1:0", m.Handler(HandlerOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	prom := testenv.StartPrometheus(t, s.Addr(), 500*time.Millisecond)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// rate() over the 10s window used below needs two scrapes in it.
	testenv.WaitFor(t, 30*time.Second, func() bool {
		n, err := instantQuery(client, prom, `rate(shardproxy_commands_total[10s])`)
		return err == nil && n > 0
	}, "two scrapes of %s", s.Addr())

	grafana := strings.NewReplacer(
		"$__rate_interval", "10s",
		"$__range", "1m",
		"$instance", ".*",
		"$pool", ".*",
		"$job", ".*",
	)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_]+)\)$`)
	d := readDashboard(t)
	type query struct{ name, expr string }
	var queries []query
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			queries = append(queries, query{p.Title + "/" + q.RefID, q.Expr})
		}
	}
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if v.Type != "query" {
			continue
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		queries = append(queries, query{"$" + v.Name, labelValues.ReplaceAllString(q.Query, "count by ($2) ($1)")})
	}
	for _, q := range queries {
		expr := grafana.Replace(q.expr)
		t.Run(q.name, func(t *testing.T) {
			n, err := instantQuery(client, prom, expr)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("%s: no series", expr)
			}
		})
	}
	for _, g := range readAlertRules(t).Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				if _, err := instantQuery(client, prom, r.Expr); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// instantQuery runs query on the Prometheus at addr and returns the number
// of series in its vector result.
func instantQuery(client *http.Client, addr, query string) (int, error) {
	resp, err := client.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query %q: %v: %s", query, err, body)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", query, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return 0, fmt.Errorf("query %q: result type %s, want vector", query, r.Data.ResultType)
	}
	return len(r.Data.Result), nil
}
