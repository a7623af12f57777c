package router

import (
	"io"

	"github.com/tidwall/redcon"
)

// cmdReader parses the commands the guard delivers straight out of the
// buffer it reads them into, with redcon's ReadNextCommand: a command's Raw
// and Args are slices of that buffer, not copies. redcon's Reader copied
// every command it parsed and allocated its argument slice and the batch's
// slice of commands: three allocations per command at -P 1, all the
// garbage the proxy made per request, and a copy of every byte.
//
// The slices are valid until the next ReadCommands. That is the session's
// contract already: a batch is served before the next one is read, and
// nothing of a command outlives its batch (backend requests complete
// before serve returns; whatever is kept, a client name or a queued
// transaction, is copied). Tests scribble over consumed input
// (scribbleInput) so that a slice kept past its batch shows.
//
// The guard hands over whole commands only (except a large payload, which
// arrives in pieces and is assembled here until complete), and rewrites
// inline commands into multibulk frames, so the buffer holds whole frames
// in the common case and is reused from its start for every batch.
type cmdReader struct {
	src        io.Reader
	buf        []byte
	start, end int // buf[start:end] is read and not parsed yet
	cmds       []redcon.Command
	args       [][]byte // backing for the arguments of a batch's commands
}

// cmdBufSize is the first size of the read buffer; it doubles for a
// command that does not fit.
const cmdBufSize = 4096

// Bounds on what a reader keeps for the next batch after a huge one.
const (
	maxKeptBuf  = 64 << 10
	maxKeptArgs = 4096
)

// scribbleInput makes ReadCommands overwrite the input of the previous
// batch before reading the next one (tests: a command slice kept past its
// batch then reads as garbage).
var scribbleInput = false

func newCmdReader(src io.Reader) *cmdReader {
	return &cmdReader{src: src, buf: make([]byte, cmdBufSize)}
}

// buffered returns how many bytes are read and not parsed into commands.
func (r *cmdReader) buffered() int { return r.end - r.start }

// ReadCommands returns every whole command the buffer holds, reading
// first when it holds none. The commands are valid until the next call.
func (r *cmdReader) ReadCommands() ([]redcon.Command, error) {
	if scribbleInput {
		for i := range r.buf[:r.start] {
			r.buf[i] = '#'
		}
	}
	if r.start == r.end {
		r.start, r.end = 0, 0
		if len(r.buf) > maxKeptBuf {
			r.buf = make([]byte, cmdBufSize)
		}
	}
	if cap(r.args) > maxKeptArgs {
		r.args = nil
	}
	if cap(r.cmds) > maxKeptArgs {
		r.cmds = nil
	}
	cmds, args := r.cmds[:0], r.args[:0]
	for {
		for r.start < r.end {
			packet := r.buf[r.start:r.end]
			ok, a, _, left, err := redcon.ReadNextCommand(packet, args[len(args):len(args)])
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			n := len(packet) - len(left)
			raw := packet[:n:n]
			r.start += n
			if len(a) == 0 {
				continue // *0: nothing to run, as in Redis
			}
			if len(a) <= cap(args)-len(args) {
				args = args[:len(args)+len(a)] // a is in args' backing
			} else {
				// a did not fit and was allocated: the commands after it
				// (and the next batches) get a backing with more room.
				args = make([][]byte, 0, 2*(cap(args)+len(a)))
			}
			cmds = append(cmds, redcon.Command{Raw: raw, Args: a})
		}
		if len(cmds) > 0 {
			r.cmds, r.args = cmds, args[:0]
			return cmds, nil
		}
		// No whole command: read more after the part that is here. Nothing
		// parsed from the buffer is in use any more, so the part moves to
		// the front, and the buffer doubles when it is full.
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buf) {
			grown := make([]byte, 2*len(r.buf))
			copy(grown, r.buf[:r.end])
			r.buf = grown
		}
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			return nil, err
		}
	}
}
