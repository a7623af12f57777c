// Package chart owns the PNG charts of a harness run: ops/s by target for
// each redis-benchmark test, the batch-size curve and the latency
// multiplier, drawn with gonum.org/v1/plot.
//
// Trade-off: charts are fixed-layout summaries of report.Results (the
// Markdown file holds the exact numbers); plot is a heavy dependency,
// which is why the harness is a module of its own.
package chart
