package resp

// Walkers over raw replies (as ReadReply returns them): they find the parts
// of a reply without copying or decoding it.

// ValueLen returns the length of the complete RESP value at the start of b,
// or -1 when b does not start with one. It walks without recursing, so a
// deeply nested reply costs no stack; replies come whole from ReadReply.
func ValueLen(b []byte) int {
	pos := 0
	pending := 1
	for pending > 0 {
		pending--
		end, ok := lineEnd(b, pos)
		if !ok {
			return -1
		}
		typ := b[pos]
		n, ok := ParseInt(b[pos+1 : end])
		pos = end + 2
		switch typ {
		case '+', '-', ':', '_', ',', '#', '(':
			// Simple types: the line is the whole value.
		case '$', '=', '!':
			if !ok {
				return -1
			}
			if n >= 0 {
				if n > int64(len(b)-pos-2) {
					return -1 // more bytes than b holds
				}
				pos += int(n) + 2
			}
		case '*', '~', '>':
			if !ok {
				return -1
			}
			pending += elemCount(n, b)
		case '%', '|':
			if !ok {
				return -1
			}
			pending += 2 * elemCount(n, b)
		default:
			return -1
		}
	}
	return pos
}

// elemCount is the element count n of an aggregate header in b as an int: 0
// for a null (-1), and at most len(b), which is more elements than b can
// hold; the cap keeps the walk's count of pending elements from
// overflowing on a corrupt header.
func elemCount(n int64, b []byte) int {
	return int(min(max(n, 0), int64(len(b))))
}

// lineEnd returns the index of the CR of the CRLF ending the line at pos,
// and false when b has none. The line's first byte is its type, never the
// CR.
func lineEnd(b []byte, pos int) (int, bool) {
	for i := pos + 1; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i, true
		}
	}
	return 0, false
}

// ArrayElems splits an array reply into its elements' raw bytes, appended
// to dst. ok is false when reply is not an array (an error, for example).
func ArrayElems(dst [][]byte, reply []byte) ([][]byte, bool) {
	if len(reply) == 0 || reply[0] != '*' {
		return dst, false
	}
	end, ok := lineEnd(reply, 0)
	if !ok {
		return dst, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok {
		return dst, false
	}
	pos := end + 2
	for i := int64(0); i < n; i++ {
		l := ValueLen(reply[pos:])
		if l == -1 {
			return dst, false
		}
		dst = append(dst, reply[pos:pos+l])
		pos += l
	}
	return dst, true
}

// BulkValue returns the payload of a bulk string reply.
func BulkValue(reply []byte) ([]byte, bool) {
	if len(reply) == 0 || reply[0] != '$' {
		return nil, false
	}
	end, ok := lineEnd(reply, 0)
	if !ok {
		return nil, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok || n < 0 || n > int64(len(reply)-end-4) { // the payload and its CRLF
		return nil, false
	}
	return reply[end+2 : end+2+int(n)], true
}

// IntValue returns the value of an integer reply.
func IntValue(reply []byte) (int64, bool) {
	if len(reply) == 0 || reply[0] != ':' {
		return 0, false
	}
	end, ok := lineEnd(reply, 0)
	if !ok {
		return 0, false
	}
	return ParseInt(reply[1:end])
}

// TextValue returns the payload of a bulk string reply, or the text of a
// RESP3 verbatim string reply (without its "txt:" format prefix).
func TextValue(reply []byte) ([]byte, bool) {
	if len(reply) == 0 || reply[0] != '=' {
		return BulkValue(reply)
	}
	end, ok := lineEnd(reply, 0)
	if !ok {
		return nil, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok || n < 4 || n > int64(len(reply)-end-4) || reply[end+5] != ':' {
		return nil, false
	}
	return reply[end+6 : end+2+int(n)], true
}
