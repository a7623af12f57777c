// Command genrules writes the PrometheusRule manifest generated from a
// Prometheus rule file (see package rules).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/shardproxy/shardproxy/deploy/kubernetes/rules"
)

func main() {
	in := flag.String("in", "../prometheus/alerts.yml", "Prometheus rule file")
	out := flag.String("out", "prometheusrule.yaml", "manifest to write")
	flag.Parse()
	src, err := os.ReadFile(*in)
	if err == nil {
		var b []byte
		if b, err = rules.Render(src); err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genrules:", err)
		os.Exit(1)
	}
}
