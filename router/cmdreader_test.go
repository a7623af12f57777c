package router

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/resp"
)

// chunkReader returns its input in the pieces given, one per Read (a
// piece larger than the caller's buffer is split).
type chunkReader struct{ pieces [][]byte }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	if n == len(r.pieces[0]) {
		r.pieces = r.pieces[1:]
	} else {
		r.pieces[0] = r.pieces[0][n:]
	}
	return n, nil
}

// names returns each command's arguments joined by spaces.
func names(t *testing.T, rd *cmdReader, raw *[]string) []string {
	t.Helper()
	cmds, err := rd.ReadCommands()
	if err != nil {
		t.Fatalf("ReadCommands: %v", err)
	}
	var out []string
	for _, c := range cmds {
		out = append(out, string(bytes.Join(c.Args, []byte(" "))))
		if raw != nil {
			*raw = append(*raw, string(c.Raw))
		}
	}
	return out
}

func TestCmdReaderBatchesAndPieces(t *testing.T) {
	get := resp.AppendCommand(nil, "GET", "a")
	set := resp.AppendCommand(nil, "SET", "key", strings.Repeat("v", 10000))
	src := &chunkReader{pieces: [][]byte{
		append(append([]byte{}, get...), get...), // two whole commands
		[]byte("*0\r\n"),                         // ignored, as Redis does
		append([]byte("*0\r\n"), get...),         // then one more
		set[:7], set[7:5000], set[5000:],         // one command in pieces, larger than the buffer
		get[:3], get[3:],
	}}
	rd := newCmdReader(src)
	var raw []string
	if got := names(t, rd, &raw); fmt.Sprint(got) != "[GET a GET a]" {
		t.Fatalf("first batch = %q", got)
	}
	if raw[0] != string(get) || raw[1] != string(get) {
		t.Fatalf("Raw = %q, want each command's bytes", raw)
	}
	if got := names(t, rd, nil); fmt.Sprint(got) != "[GET a]" {
		t.Fatalf("after *0 = %q", got)
	}
	raw = raw[:0]
	if got := names(t, rd, &raw); len(got) != 1 || got[0] != "SET key "+strings.Repeat("v", 10000) || raw[0] != string(set) {
		t.Fatalf("command in pieces: %d commands, Raw %d bytes", len(got), len(raw[0]))
	}
	if got := names(t, rd, nil); fmt.Sprint(got) != "[GET a]" {
		t.Fatalf("after the big command = %q", got)
	}
	if rd.buffered() != 0 {
		t.Fatalf("buffered = %d after every command was parsed", rd.buffered())
	}
	if _, err := rd.ReadCommands(); err != io.EOF {
		t.Fatalf("at the end: err = %v, want EOF", err)
	}
}

// The argument backing grows within a batch without moving the arguments
// of the commands before: each command keeps its own.
func TestCmdReaderManyArguments(t *testing.T) {
	var in []byte
	var want []string
	for i := 0; i < 50; i++ {
		args := []string{"MSET"}
		for j := 0; j <= i; j++ {
			args = append(args, fmt.Sprintf("k%d.%d", i, j), "v")
		}
		in = resp.AppendCommand(in, args...)
		want = append(want, strings.Join(args, " "))
	}
	rd := newCmdReader(&chunkReader{pieces: [][]byte{in}})
	var got []string
	for len(got) < len(want) {
		got = append(got, names(t, rd, nil)...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("command %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// A batch's commands are views of the read buffer, valid until the next
// read: what the session keeps must be copied. With scribbleInput (on in
// every test of the package), a view kept too long reads as garbage.
func TestCmdReaderScribblesConsumedInput(t *testing.T) {
	rd := newCmdReader(&chunkReader{pieces: [][]byte{resp.AppendCommand(nil, "GET", "a")}})
	cmds, err := rd.ReadCommands()
	if err != nil {
		t.Fatal(err)
	}
	kept := cmds[0].Args[1]
	if _, err := rd.ReadCommands(); err != io.EOF {
		t.Fatalf("second read: %v, want EOF", err)
	}
	if string(kept) != "#" {
		t.Fatalf("an argument of the previous batch reads %q after the next read, want it scribbled over", kept)
	}
}

// repeatReader returns b once each time it is rearmed.
type repeatReader struct {
	b    []byte
	sent bool
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.sent {
		return 0, io.EOF
	}
	r.sent = true
	return copy(p, r.b), nil
}

// Steady state at -P 1: parsing allocates nothing.
func TestCmdReaderAllocatesNothing(t *testing.T) {
	src := &repeatReader{b: resp.AppendCommand(nil, "GET", "key:000000001")}
	rd := newCmdReader(src)
	rd.ReadCommands() // the argument and command slices are sized here
	allocs := testing.AllocsPerRun(1000, func() {
		src.sent = false
		if cmds, err := rd.ReadCommands(); err != nil || len(cmds) != 1 {
			t.Fatalf("ReadCommands = %d commands, %v", len(cmds), err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per command, want 0", allocs)
	}
}

// serverReader reads one command at a time through the reader the server
// uses, for tests that look at what the guard delivers: each command is
// copied, since the reader's own are valid until its next read.
type serverReader struct {
	rd    *cmdReader
	queue []redcon.Command
}

func newServerReader(src io.Reader) *serverReader { return &serverReader{rd: newCmdReader(src)} }

func (s *serverReader) ReadCommand() (redcon.Command, error) {
	if len(s.queue) == 0 {
		cmds, err := s.rd.ReadCommands()
		if err != nil {
			return redcon.Command{}, err
		}
		for _, c := range cmds {
			args := make([][]byte, len(c.Args))
			for i, a := range c.Args {
				args[i] = bytes.Clone(a)
			}
			s.queue = append(s.queue, redcon.Command{Raw: bytes.Clone(c.Raw), Args: args})
		}
	}
	cmd := s.queue[0]
	s.queue = s.queue[1:]
	return cmd, nil
}
