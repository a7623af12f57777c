package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration. Parse, Load and the Validate
// methods return one *Error per problem, joined with errors.Join in line
// order; errors.As finds the first.
type Error struct {
	File string // file name as given to Parse; "" for pools built in code
	Line int    // 1-based line; 0 when unknown (pools built in code)
	Pool string // pool name; "" for file-level problems
	Key  string // pool key (e.g. "hash"); "" for pool-level problems
	Msg  string
}

// Error formats e as "<file>:<line>: <pool>.<key>: <msg>", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Pool != "" {
		b.WriteString(e.Pool)
		if e.Key != "" {
			b.WriteString("." + e.Key)
		}
		b.WriteString(": ")
	} else if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinErrors sorts errs by line (stably, so equal lines keep their order)
// and joins them; nil when there are none.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
