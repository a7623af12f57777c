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
		if pos >= len(b) {
			return -1
		}
		end := lineEnd(b, pos)
		if end < 0 {
			return -1
		}
		typ := b[pos]
		n, ok := ParseInt(b[pos+1 : end])
		pos = end + 2
		switch typ {
		case '$', '=', '!':
			if !ok {
				return -1
			}
			if n >= 0 {
				pos += int(n) + 2
			}
		case '*', '~', '>':
			if !ok {
				return -1
			}
			if n > 0 {
				pending += int(n)
			}
		case '%', '|':
			if !ok {
				return -1
			}
			if n > 0 {
				pending += 2 * int(n)
			}
		}
	}
	if pos > len(b) {
		return -1
	}
	return pos
}

// lineEnd returns the index of the CR of the CRLF ending the line at pos.
func lineEnd(b []byte, pos int) int {
	for i := pos; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// ArrayElems splits an array reply into its elements' raw bytes, appended
// to dst. ok is false when reply is not an array (an error, for example).
func ArrayElems(dst [][]byte, reply []byte) ([][]byte, bool) {
	if len(reply) == 0 || reply[0] != '*' {
		return dst, false
	}
	end := lineEnd(reply, 0)
	if end < 0 {
		return dst, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok {
		return dst, false
	}
	pos := end + 2
	for i := int64(0); i < n; i++ {
		l := ValueLen(reply[pos:])
		if l < 0 {
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
	end := lineEnd(reply, 0)
	if end < 0 {
		return nil, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok || n < 0 || end+2+int(n) > len(reply) {
		return nil, false
	}
	return reply[end+2 : end+2+int(n)], true
}

// IntValue returns the value of an integer reply.
func IntValue(reply []byte) (int64, bool) {
	if len(reply) < 3 || reply[0] != ':' {
		return 0, false
	}
	return ParseInt(reply[1 : len(reply)-2])
}

// TextValue returns the payload of a bulk string reply, or the text of a
// RESP3 verbatim string reply (without its "txt:" format prefix).
func TextValue(reply []byte) ([]byte, bool) {
	if len(reply) == 0 || reply[0] != '=' {
		return BulkValue(reply)
	}
	end := lineEnd(reply, 0)
	if end < 0 {
		return nil, false
	}
	n, ok := ParseInt(reply[1:end])
	if !ok || n < 4 || end+2+int(n) > len(reply) || reply[end+5] != ':' {
		return nil, false
	}
	return reply[end+6 : end+2+int(n)], true
}
