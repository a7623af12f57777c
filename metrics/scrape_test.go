package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeText GETs /metrics from h and returns the body, failing the test
// unless the answer is a 200 in the classic text format.
func scrapeText(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: Content-Type %q, want the 0.0.4 text format", ct)
	}
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// parse parses a text exposition into metric families.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	return fams
}

// seriesKey renders name{l1="v1",...} with labels sorted by name, the form
// used as the key of a snapshot and in test expectations.
func seriesKey(name string, labels ...string) string {
	if len(labels)%2 != 0 {
		panic("seriesKey: odd label list")
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func metricKey(name string, m *dto.Metric) string {
	var labels []string
	for _, lp := range m.GetLabel() {
		labels = append(labels, lp.GetName(), lp.GetValue())
	}
	return seriesKey(name, labels...)
}

// snapshot maps every shardproxy_ series of a scrape to its value; a
// histogram contributes its _count and _sum (bucket placement is tested
// separately).
func snapshot(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	out := make(map[string]float64)
	for name, fam := range parse(t, scrapeText(t, h)) {
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			switch fam.GetType() {
			case dto.MetricType_COUNTER:
				out[metricKey(name, m)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[metricKey(name, m)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[metricKey(name+"_count", m)] = float64(m.GetHistogram().GetSampleCount())
				out[metricKey(name+"_sum", m)] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("%s: unexpected metric type %v", name, fam.GetType())
			}
		}
	}
	return out
}

// moved returns the series whose value differs between before and after,
// including new series with a non-zero value, with their new value.
func moved(before, after map[string]float64) map[string]float64 {
	out := make(map[string]float64)
	for k, v := range after {
		if old, ok := before[k]; ok && old == v {
			continue
		}
		if _, ok := before[k]; !ok && v == 0 {
			continue
		}
		out[k] = v
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k+" (removed)"] = 0
		}
	}
	return out
}

// diffMaps describes how got differs from want, or returns "".
func diffMaps(got, want map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "missing %s = %v\n", k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "%s = %v, want %v\n", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "unexpected %s = %v\n", k, got[k])
		}
	}
	return b.String()
}
