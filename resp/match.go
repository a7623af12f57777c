package resp

// Match reports whether s matches the glob pattern as Redis's util.c
// stringmatchlen does (KEYS, SCAN MATCH, CONFIG GET, COMMAND LIST FILTERBY
// PATTERN): * and ? wildcards, [...] classes with ranges and ^, and \
// escapes; nocase folds ASCII letters. Like Redis it gives up on a pattern
// once a '*' has tried every suffix (skipLonger), so a hostile pattern such as
// "*a*a*a*a*b" costs polynomial, not exponential, time; nesting deeper than
// 1000 wildcards does not match. It does not allocate.
func Match(pattern, s []byte, nocase bool) bool {
	skipLonger := false
	return matchImpl(pattern, s, nocase, &skipLonger, 0)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func matchImpl(pat, s []byte, nocase bool, skipLonger *bool, depth int) bool {
	// at mimics reading a NUL-terminated C string past its end.
	at := func(b []byte, i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	eq := func(a, b byte) bool {
		if nocase {
			return lowerASCII(a) == lowerASCII(b)
		}
		return a == b
	}
	if depth > 1000 {
		return false // guards the stack against hostile patterns (over 1000 wildcards)
	}
	for len(pat) > 0 && len(s) > 0 {
		switch pat[0] {
		case '*':
			for len(pat) > 1 && pat[1] == '*' {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for len(s) > 0 {
				if matchImpl(pat[1:], s, nocase, skipLonger, depth+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			pat = pat[1:]
			not := at(pat, 0) == '^'
			if not {
				pat = pat[1:]
			}
			match := false
			for {
				if at(pat, 0) == '\\' && len(pat) >= 2 {
					pat = pat[1:]
					if pat[0] == s[0] {
						match = true
					}
				} else if at(pat, 0) == ']' {
					break
				} else if len(pat) == 0 {
					// Unterminated class: Redis steps back so that the final
					// advance below consumes nothing.
					pat = nil
					break
				} else if len(pat) >= 3 && pat[1] == '-' {
					// Either order: [z-a] is [a-z].
					lo, hi, c := min(pat[0], pat[2]), max(pat[0], pat[2]), s[0]
					if nocase {
						lo, hi, c = lowerASCII(lo), lowerASCII(hi), lowerASCII(c)
					}
					pat = pat[2:]
					if c >= lo && c <= hi {
						match = true
					}
				} else if eq(pat[0], s[0]) {
					match = true
				}
				pat = pat[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if pat == nil {
				// The class ran off the end of the pattern.
				if len(s) == 0 {
					return true
				}
				return false
			}
		case '\\':
			if len(pat) >= 2 {
				pat = pat[1:]
			}
			if !eq(pat[0], s[0]) {
				return false
			}
			s = s[1:]
		default:
			if !eq(pat[0], s[0]) {
				return false
			}
			s = s[1:]
		}
		pat = pat[1:]
		if len(s) == 0 {
			for len(pat) > 0 && pat[0] == '*' {
				pat = pat[1:]
			}
			break
		}
	}
	return len(pat) == 0 && len(s) == 0
}
