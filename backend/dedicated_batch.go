package backend

import (
	"net"
	"time"
)

// DoAll is Do for several requests: their Wires go out in one write and
// their replies are read in order, each into its own request (Skip
// honoured), within the server's request timeout for the whole exchange.
// It returns nil or the first error, which every request not answered
// gets too; a failure closes the connection, as Do's does.
func (d *Dedicated) DoAll(rs []*Request) *Error {
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		r.Err = nil
	}
	if err := d.Err(); err != nil {
		for _, r := range rs {
			r.Err = err
		}
		return err
	}
	timeout := d.s.opts.Timeout
	start := time.Now()
	var deadline time.Time
	bufs := make(net.Buffers, len(rs))
	size := 0
	for i, r := range rs {
		bufs[i] = r.Wire
		size += len(r.Wire)
	}
	if timeout > 0 {
		deadline = start.Add(timeout + transferTime(size))
	}
	d.nc.SetDeadline(deadline)
	if _, err := bufs.WriteTo(d.nc); err != nil {
		return d.failAll(rs, 0, err, timeout)
	}
	for i, r := range rs {
		if extra := replyTransferTime(d.br); extra > 0 && timeout > 0 {
			deadline = deadline.Add(extra)
			d.nc.SetReadDeadline(deadline)
		}
		if err := readReplyOf(d.br, r, nil); err != nil {
			return d.failAll(rs, i, err, timeout)
		}
		if !r.charge() {
			r.Err = &Error{Server: d.s.opts.Name, Kind: KindClosed, Cause: ErrReplyDropped}
		}
	}
	d.s.obs.Replied(time.Since(start), 0)
	return nil
}

// failAll fails rs[from:] after an I/O error.
func (d *Dedicated) failAll(rs []*Request, from int, ioErr error, timeout time.Duration) *Error {
	err := d.fail(rs[from], ioErr, timeout)
	for _, r := range rs[from+1:] {
		r.Err = err
	}
	return err
}
