package router

import (
	"bytes"
	"net"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/command"
)

// FuzzRequestPath feeds arbitrary client bytes through the path a request
// takes before it reaches a backend: the size guard (in random chunks),
// redcon's parser, the command table and key extraction. Nothing may panic,
// and every key index must point into the arguments.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*3\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*4\r\n$4\r\nEVAL\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\nk\r\n",
		"PING\r\nSET a \"b c\"\r\n",
		"*1\r\n$1073741824\r\n",
		"*-1\r\n*0\r\n",
		"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 1\r\n",
		"*5\r\n$11\r\nZUNIONSTORE\r\n$1\r\nd\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n",
		"*6\r\n$5\r\nXREAD\r\n$5\r\nCOUNT\r\n$1\r\n1\r\n$7\r\nSTREAMS\r\n$1\r\na\r\n$1\r\n0\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		g := &guardConn{l: &guardListener{}}
		step := int(chunk%16) + 1
		for i := 0; i < len(in); i += step {
			if msg, _ := g.scan(in[i:min(i+step, len(in))]); msg != "" {
				break
			}
		}
		rd := redcon.NewReader(bytes.NewReader(in))
		var keys []int
		for n := 0; n < 64; n++ {
			cmd, err := rd.ReadCommand()
			if err != nil {
				return
			}
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
