package resp

// ParseInt parses a decimal integer exactly as Redis's util.c string2ll does,
// which is how Redis accepts every integer argument (SELECT, EXPIRE, EVAL's
// numkeys, ...) and every length of the protocol: no spaces, no '+', no
// leading zeros ("00" and "-0" are errors, "0" is not), at most 20 bytes,
// within int64. It does not allocate.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	// Every int64 has at most 19 digits, and 19 digits cannot overflow the
	// uint64 below: a longer number is out of range (string2ll refuses it
	// too, by its length limit or its overflow checks).
	if len(b) == 0 || len(b) > 19 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
