// Package report owns the harness's numbers after they are measured:
// parsing redis-benchmark's CSV output and spotting failed runs, reducing
// interleaved rounds to medians, judging the targets, and rendering
// the results file in Markdown.
//
// Trade-off: a run is summarised by the median of its rounds (robust to
// one disturbed round on a shared box) rather than the mean; CPU per
// request is the total CPU over all rounds divided by all requests, since
// CPU time is additive and its 10 ms resolution favours long totals.
package report
