package router

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/shardproxy/shardproxy/command"
)

// FuzzRequestPath feeds arbitrary client bytes through the path a request
// takes before it reaches a backend: the guard (in random chunks), redcon's
// parser, the command table and key extraction. Nothing may panic, redcon
// must accept what the guard lets through, the guard must decide the same
// whatever the read sizes, and every key index must point into the
// arguments.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*3\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*4\r\n$4\r\nEVAL\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\nk\r\n",
		"PING\r\nSET a \"b c\"\r\n",
		"SET a foo\"b c\"\r\nECHO \"\\x41\"\t'\\''\r\n",
		"*1\r\n$1073741824\r\n",
		"*-1\r\n*0\r\n",
		"*+1\r\n$4\r\nPING\r\n*1\r\n$1073741824\r\n",
		"*1\r\n$+4\r\nPING\r\n",
		"*1\r\n$-0\r\n\r\n",
		"PING\r\n*1\r\n$4\r\nPINGxx*0\r\n*1\r$4\r\nPING\r\n",
		"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*-9223372036854775808\r\n",
		"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 1\r\n",
		"*5\r\n$11\r\nZUNIONSTORE\r\n$1\r\nd\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*6\r\n$5\r\nXREAD\r\n$5\r\nCOUNT\r\n$1\r\n1\r\n$7\r\nSTREAMS\r\n$1\r\na\r\n$1\r\n0\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		// Whatever the guard lets through, redcon parses; and the guard
		// decides the same whatever the read sizes.
		step := int(chunk%16) + 1
		whole, wroteWhole, errWhole := guardStream(t, testLimits(), in, 0)
		cut, wroteCut, errCut := guardStream(t, testLimits(), in, step)
		for _, err := range []error{errWhole, errCut} {
			// Inline commands reach redcon as multibulk frames (the
			// guard splits them as Redis does), so redcon refuses nothing.
			if err != nil && !errors.Is(err, errProtocolGuard) {
				t.Fatalf("%q: redcon refused what the guard let through: %v", in, err)
			}
		}
		if fmt.Sprint(whole) != fmt.Sprint(cut) || wroteWhole != wroteCut {
			t.Fatalf("%q: whole: %q %q; in steps of %d: %q %q", in, whole, wroteWhole, step, cut, wroteCut)
		}
		cmds, _, _ := guardCommands(t, testLimits(), in, 0)
		var keys []int
		for _, cmd := range cmds {
			ci, _ := command.Lookup(cmd.Args)
			if ci == nil {
				continue
			}
			keys, _ = ci.AppendKeyIndexes(keys[:0], cmd.Args)
			for _, k := range keys {
				if k <= 0 || k >= len(cmd.Args) {
					t.Fatalf("%q: key index %d out of %d args", cmd.Args, k, len(cmd.Args))
				}
			}
		}
	})
}

var _ net.Conn = (*guardConn)(nil)
