package resp

import (
	"math"
	"strconv"
)

// The Append functions encode one RESP value at the end of dst and return the
// extended buffer, as strconv.AppendInt does. They never fail and allocate
// only when dst must grow. Strings given to AppendError and AppendSimple must
// not contain CR or LF: the caller owns that rule (Redis replaces them with
// spaces in errors built from user input).

// AppendError appends an error reply: '-' msg CRLF. msg has no leading '-'.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// AppendSimple appends a simple string reply: '+' s CRLF.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendInt appends an integer reply: ':' n CRLF.
func AppendInt(dst []byte, n int64) []byte {
	return AppendHeader(dst, ':', n)
}

// AppendHeader appends a type byte and a number line, e.g. '*' 3 -> "*3\r\n".
// It is the building block of the aggregate headers below.
func AppendHeader(dst []byte, kind byte, n int64) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// AppendArrayHeader appends the header of an array of n elements; the
// caller appends the n elements after it.
func AppendArrayHeader(dst []byte, n int) []byte { return AppendHeader(dst, '*', int64(n)) }

// AppendBulkString appends s as a bulk string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = AppendHeader(dst, '$', int64(len(s)))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendBulk appends b as a bulk string.
func AppendBulk(dst []byte, b []byte) []byte {
	dst = AppendHeader(dst, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendNull appends RESP2's null bulk string, "$-1\r\n" (GET of a missing key).
func AppendNull(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

// AppendNullArray appends RESP2's null array, "*-1\r\n".
func AppendNullArray(dst []byte) []byte { return append(dst, "*-1\r\n"...) }

// AppendCommand appends args as a command: an array of bulk strings.
func AppendCommand(dst []byte, args ...string) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = AppendBulkString(dst, a)
	}
	return dst
}

// AppendCommandBytes is AppendCommand for arguments held as bytes.
func AppendCommandBytes(dst []byte, args [][]byte) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// RESP3 types (HELLO 3). A session speaking RESP2 must not send them.

// AppendNull3 appends RESP3's null, "_\r\n".
func AppendNull3(dst []byte) []byte { return append(dst, '_', '\r', '\n') }

// AppendMapHeader appends the header of a RESP3 map of n key/value pairs;
// the caller appends 2n values after it.
func AppendMapHeader(dst []byte, n int) []byte { return AppendHeader(dst, '%', int64(n)) }

// AppendSetHeader appends the header of a RESP3 set of n elements.
func AppendSetHeader(dst []byte, n int) []byte { return AppendHeader(dst, '~', int64(n)) }

// AppendPushHeader appends the header of a RESP3 push of n elements (the
// first is the kind: "message", "invalidate", ...).
func AppendPushHeader(dst []byte, n int) []byte { return AppendHeader(dst, '>', int64(n)) }

// AppendBool appends a RESP3 boolean, "#t\r\n" or "#f\r\n".
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "#t\r\n"...)
	}
	return append(dst, "#f\r\n"...)
}

// AppendDouble appends a RESP3 double as Redis writes it: "inf", "-inf",
// "nan", or the shortest decimal that reads back as f.
func AppendDouble(dst []byte, f float64) []byte {
	dst = append(dst, ',')
	switch {
	case math.IsInf(f, 1):
		dst = append(dst, "inf"...)
	case math.IsInf(f, -1):
		dst = append(dst, "-inf"...)
	case math.IsNaN(f):
		dst = append(dst, "nan"...)
	default:
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return append(dst, '\r', '\n')
}

// AppendBigNumber appends a RESP3 big number; digits is its decimal text.
func AppendBigNumber(dst []byte, digits string) []byte {
	dst = append(dst, '(')
	dst = append(dst, digits...)
	return append(dst, '\r', '\n')
}

// AppendVerbatim appends a RESP3 verbatim string of format ("txt" or "mkd",
// three bytes) and text s.
func AppendVerbatim(dst []byte, format, s string) []byte {
	dst = AppendHeader(dst, '=', int64(len(format)+1+len(s)))
	dst = append(dst, format...)
	dst = append(dst, ':')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendBlobError appends a RESP3 blob error (an error that may hold CR or LF).
func AppendBlobError(dst []byte, msg string) []byte {
	dst = AppendHeader(dst, '!', int64(len(msg)))
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}
