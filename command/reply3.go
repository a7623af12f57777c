package command

import (
	"bytes"

	"github.com/shardproxy/shardproxy/resp"
)

// AppendReplyProto appends the reply to a COMMAND call in the client's
// protocol: AppendReply's RESP2 bytes, or, for proto 3, the same reply in
// the shapes redis-server 7.0 gives a RESP3 client. The table holds RESP2
// replies only; the RESP3 ones differ in where Redis writes a map
// (key specs, COMMAND DOCS), a set (flags, ACL categories, tips) or a
// null, which the reply's known layout tells (toRESP3).
func AppendReplyProto(dst []byte, args [][]byte, proto int) []byte {
	if proto != 3 {
		return AppendReply(dst, args)
	}
	ci, _ := Lookup(args)
	b := AppendReply(nil, args)
	if ci == nil || len(b) == 0 || b[0] == '-' {
		return append(dst, b...)
	}
	c := &conv3{src: b, dst: dst}
	switch ci.name {
	case "command", "command|info":
		c.array('*', c.infoEntry)
	case "command|docs":
		c.mapOf(func(string) { c.docs() })
	case "command|getkeysandflags":
		c.array('*', func() { c.array('*', c.keyAndFlags()) })
	default: // COUNT, LIST, GETKEYS, HELP: the same bytes in RESP3
		c.copyValue()
	}
	if c.bad || c.pos != len(b) {
		// A layout the converter does not know: the RESP2 reply, which
		// every RESP3 client reads too, rather than a broken one.
		return append(dst, b...)
	}
	return c.dst
}

// conv3 re-encodes a RESP2 reply of known layout in RESP3.
type conv3 struct {
	src []byte
	pos int
	dst []byte
	bad bool
}

// header reads an aggregate's header (*n) and returns n; -1 for a null
// array, and marks the conversion bad for anything else.
func (c *conv3) header() int {
	line, _, found := bytes.Cut(c.src[c.pos:], []byte("\r\n"))
	if c.bad || !found || len(line) == 0 || line[0] != '*' {
		c.bad = true
		return 0
	}
	n, ok := resp.ParseInt(line[1:])
	if !ok {
		c.bad = true
		return 0
	}
	c.pos += len(line) + 2
	return int(n)
}

// copyValue copies one value; a RESP2 null becomes RESP3's.
func (c *conv3) copyValue() {
	if c.bad {
		return
	}
	l := resp.ValueLen(c.src[c.pos:])
	if l == -1 {
		c.bad = true
		return
	}
	v := c.src[c.pos : c.pos+l]
	if string(v) == "$-1\r\n" || string(v) == "*-1\r\n" {
		c.dst = append(c.dst, "_\r\n"...)
	} else {
		c.dst = append(c.dst, v...)
	}
	c.pos += l
}

// text returns the next value's text without consuming it: the payload of
// a bulk string (every field name of these replies is one), else "".
func (c *conv3) text() string {
	v, _ := resp.BulkValue(c.src[c.pos:])
	return string(v)
}

// array converts an array whose elements elem converts, written with the
// given aggregate type ('*' array, '~' set).
func (c *conv3) array(kind byte, elem func()) {
	n := c.header()
	if c.bad {
		return
	}
	if n < 0 {
		c.dst = append(c.dst, "_\r\n"...)
		return
	}
	c.dst = resp.AppendHeader(c.dst, kind, int64(n))
	for i := 0; i < n && !c.bad; i++ {
		elem()
	}
}

// mapOf converts a RESP2 flat array of names and values into a map; value
// converts the value of the field named by its argument.
func (c *conv3) mapOf(value func(field string)) {
	n := c.header()
	if c.bad || n%2 != 0 {
		c.bad = true
		return
	}
	c.dst = resp.AppendMapHeader(c.dst, n/2)
	for i := 0; i < n/2 && !c.bad; i++ {
		field := c.text()
		c.copyValue()
		value(field)
	}
}

// set converts an array of plain values into a set.
func (c *conv3) set() { c.array('~', c.copyValue) }

// infoEntry converts one COMMAND INFO entry: name, arity, flags (set),
// first key, last key, step, ACL categories (set), tips (set), key specs
// (a set of maps), subcommands (a set of entries); a null for an unknown
// name.
func (c *conv3) infoEntry() {
	if bytes.HasPrefix(c.src[c.pos:], []byte{'$'}) {
		c.copyValue() // the null of an unknown name
		return
	}
	n := c.header()
	if c.bad || n != 10 {
		c.bad = true
		return
	}
	c.dst = resp.AppendArrayHeader(c.dst, n)
	c.copyValue()
	c.copyValue()
	c.set()
	c.copyValue()
	c.copyValue()
	c.copyValue()
	c.set()
	c.set()
	c.array('~', c.keySpec) // Redis 7.0 sends both as sets
	c.array('~', c.infoEntry)
}

// keySpec converts a key spec: a map whose flags are a set and whose
// begin_search and find_keys are maps with a map "spec".
func (c *conv3) keySpec() {
	c.mapOf(func(field string) {
		switch field {
		case "flags":
			c.set()
		case "begin_search", "find_keys":
			c.mapOf(func(f string) {
				if f == "spec" {
					c.mapOf(func(string) { c.copyValue() })
				} else {
					c.copyValue()
				}
			})
		default:
			c.copyValue()
		}
	})
}

// docs converts one command's COMMAND DOCS map: doc_flags and history
// sets, arguments maps, subcommands a map of docs.
func (c *conv3) docs() {
	c.mapOf(func(field string) {
		switch field {
		case "doc_flags", "history": // history: a set of [version, text] arrays
			c.set()
		case "arguments":
			c.array('*', c.argument)
		case "subcommands":
			c.mapOf(func(string) { c.docs() })
		default:
			c.copyValue()
		}
	})
}

// argument converts an argument of COMMAND DOCS: a map whose flags are a
// set and whose arguments are arguments.
func (c *conv3) argument() {
	c.mapOf(func(field string) {
		switch field {
		case "flags":
			c.set()
		case "arguments":
			c.array('*', c.argument)
		default:
			c.copyValue()
		}
	})
}

// keyAndFlags converts a GETKEYSANDFLAGS element: the key, then its flags
// as a set.
func (c *conv3) keyAndFlags() func() {
	i := 0
	return func() {
		if i%2 == 0 {
			c.copyValue()
		} else {
			c.set()
		}
		i++
	}
}
