package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// node is one parsed RESP2 value. The generator keeps whole replies as trees so
// that it can re-encode them byte for byte, with nested subcommand lists sorted.
type node struct {
	kind  byte // '+', '-', ':', '$', '*'
	str   string
	num   int64
	null  bool
	elems []*node
}

// readNode reads one RESP2 value.
func readNode(r *bufio.Reader) (*node, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed RESP line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	n := &node{kind: kind}
	switch kind {
	case '+', '-':
		n.str = body
	case ':':
		if n.num, err = strconv.ParseInt(body, 10, 64); err != nil {
			return nil, err
		}
	case '$':
		size, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if size < 0 {
			n.null = true
			return n, nil
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		n.str = string(buf[:size])
	case '*':
		size, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if size < 0 {
			n.null = true
			return n, nil
		}
		n.elems = make([]*node, size)
		for i := range n.elems {
			if n.elems[i], err = readNode(r); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unsupported RESP type %q", kind)
	}
	return n, nil
}

// encode appends the RESP2 encoding of n to dst.
func (n *node) encode(dst []byte) []byte {
	switch n.kind {
	case '+', '-':
		dst = append(dst, n.kind)
		dst = append(dst, n.str...)
		return append(dst, '\r', '\n')
	case ':':
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, n.num, 10)
		return append(dst, '\r', '\n')
	case '$':
		if n.null {
			return append(dst, "$-1\r\n"...)
		}
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(n.str)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, n.str...)
		return append(dst, '\r', '\n')
	default:
		if n.null {
			return append(dst, "*-1\r\n"...)
		}
		dst = append(dst, '*')
		dst = strconv.AppendInt(dst, int64(len(n.elems)), 10)
		dst = append(dst, '\r', '\n')
		for _, e := range n.elems {
			dst = e.encode(dst)
		}
		return dst
	}
}

// text returns the string of a bulk or simple string node.
func (n *node) text() (string, error) {
	if n.kind != '$' && n.kind != '+' || n.null {
		return "", fmt.Errorf("want a string, got RESP type %q", n.kind)
	}
	return n.str, nil
}

// pairs returns a RESP2 flattened map (an array of key, value, ...) as key -> value.
func (n *node) pairs() (map[string]*node, error) {
	if n.kind != '*' || len(n.elems)%2 != 0 {
		return nil, errors.New("want a flattened map")
	}
	m := make(map[string]*node, len(n.elems)/2)
	for i := 0; i < len(n.elems); i += 2 {
		k, err := n.elems[i].text()
		if err != nil {
			return nil, err
		}
		m[k] = n.elems[i+1]
	}
	return m, nil
}

// sortPairs sorts a flattened map by key (keys are strings).
func (n *node) sortPairs() {
	type pair struct{ k, v *node }
	ps := make([]pair, len(n.elems)/2)
	for i := range ps {
		ps[i] = pair{n.elems[2*i], n.elems[2*i+1]}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].k.str < ps[j].k.str })
	for i, p := range ps {
		n.elems[2*i], n.elems[2*i+1] = p.k, p.v
	}
}
