package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	fetchFlag := flag.Bool("fetch", false, "read the commands from a redis-server and rewrite the .resp dumps first")
	addr := flag.String("addr", "", "with -fetch: address of a running redis-server (default: start one on a free loopback port)")
	server := flag.String("redis-server", "redis-server", "with -fetch: redis-server binary used when -addr is empty")
	out := flag.String("out", "commands_gen.go", "Go file to write; the .resp dumps are read from (and with -fetch written to) its directory")
	flag.Parse()
	if err := run(*fetchFlag, *addr, *server, *out); err != nil {
		slog.Error("cmdgen failed", "err", err)
		os.Exit(1)
	}
}

func run(fetchDumps bool, addr, server, out string) error {
	dir := filepath.Dir(out)
	if fetchDumps {
		if err := writeDumps(addr, server, dir); err != nil {
			return err
		}
	}
	goSrc, err := generate(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, goSrc, 0o644); err != nil {
		return err
	}
	slog.Info("cmdgen wrote command table", "out", out)
	return nil
}

// writeDumps reads COMMAND, COMMAND DOCS and every HELP from a redis-server
// and writes them to dir in the canonical form generate reads.
func writeDumps(addr, server, dir string) error {
	if addr == "" {
		a, stop, err := startServer(server)
		if err != nil {
			return err
		}
		defer stop()
		addr = a
	}
	c, err := dialRedis(addr)
	if err != nil {
		return err
	}
	defer c.close()
	src, err := fetch(c)
	if err != nil {
		return err
	}
	tab, err := build(src)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(dir, infoFile):    tab.infoData,
		filepath.Join(dir, docsFile):    tab.docsData,
		filepath.Join(dir, helpFile):    tab.helpData,
		filepath.Join(dir, versionFile): []byte(src.version + "\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// generate builds the Go source of the table from the dumps in dir. It fails
// when the dumps are not in canonical form (the generator would re-encode
// them differently), so the embedded data and the spans always agree.
func generate(dir string) ([]byte, error) {
	src, raw, err := readDumps(dir)
	if err != nil {
		return nil, err
	}
	tab, err := build(src)
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{infoFile: tab.infoData, docsFile: tab.docsData, helpFile: tab.helpData} {
		if !bytes.Equal(data, raw[name]) {
			return nil, fmt.Errorf("%s is not in canonical form; regenerate it with -fetch", name)
		}
	}
	return tab.emit()
}

// readDumps reads the committed dumps: the COMMAND INFO entries, the COMMAND
// DOCS name/value pairs, the HELP name/reply pairs and the server version.
func readDumps(dir string) (*source, map[string][]byte, error) {
	raw := map[string][]byte{}
	for _, name := range []string{infoFile, docsFile, helpFile, versionFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		raw[name] = b
	}
	src := &source{version: strings.TrimSpace(string(raw[versionFile])), help: map[string]*node{}}
	if src.version == "" {
		return nil, nil, fmt.Errorf("%s is empty", versionFile)
	}
	var err error
	if src.command, err = readAll(raw[infoFile]); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", infoFile, err)
	}
	if src.docs, err = readAll(raw[docsFile]); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", docsFile, err)
	}
	help, err := readAll(raw[helpFile])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", helpFile, err)
	}
	m, err := help.pairs()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", helpFile, err)
	}
	src.help = m
	return src, raw, nil
}

// readAll reads the RESP values of b until its end, as the elements of an array.
func readAll(b []byte) (*node, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	all := &node{kind: '*'}
	for {
		if _, err := r.Peek(1); err == io.EOF {
			return all, nil
		}
		n, err := readNode(r)
		if err != nil {
			return nil, err
		}
		all.elems = append(all.elems, n)
	}
}

// Dumps beside the Go file: the generator's input, embedded by the Go file
// (all but the version).
const (
	infoFile    = "commands_info.resp"   // COMMAND INFO entries, sorted by name
	docsFile    = "commands_docs.resp"   // COMMAND DOCS name/value pairs, sorted by name
	helpFile    = "commands_help.resp"   // container name / HELP reply pairs
	versionFile = "commands_version.txt" // redis_version of the server
)

// startServer runs a throwaway redis-server on a free loopback port.
func startServer(bin string) (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "cmdgen")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, stop, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not come up: %w", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// redisConn is a minimal RESP2 client.
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRedis(addr string) (*redisConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: c, r: bufio.NewReaderSize(c, 1<<16)}, nil
}

func (c *redisConn) close() { c.c.Close() }

// do sends one command and returns its parsed reply.
func (c *redisConn) do(args ...string) (*node, error) {
	var b []byte
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		return nil, err
	}
	n, err := readNode(c.r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	if n.kind == '-' {
		return nil, fmt.Errorf("%s: %s", strings.Join(args, " "), n.str)
	}
	return n, nil
}

// source is everything read from the server.
type source struct {
	version string
	command *node            // COMMAND
	docs    *node            // COMMAND DOCS
	help    map[string]*node // container name -> reply of "<NAME> HELP"
}

func fetch(c *redisConn) (*source, error) {
	info, err := c.do("INFO", "server")
	if err != nil {
		return nil, err
	}
	src := &source{help: map[string]*node{}}
	for _, line := range strings.Split(info.str, "\r\n") {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			src.version = v
		}
	}
	if src.command, err = c.do("COMMAND"); err != nil {
		return nil, err
	}
	if src.docs, err = c.do("COMMAND", "DOCS"); err != nil {
		return nil, err
	}
	for _, e := range src.command.elems {
		name := e.elems[0].str
		if len(e.elems) < 10 {
			continue
		}
		for _, s := range e.elems[9].elems {
			if s.elems[0].str == name+"|help" {
				h, err := c.do(strings.ToUpper(name), "HELP")
				if err != nil {
					// CLUSTER HELP fails on a server without cluster support; the
					// proxy refuses CLUSTER anyway.
					slog.Warn("cmdgen: no help text", "command", name, "err", err)
					continue
				}
				src.help[name] = h
			}
		}
	}
	return src, nil
}

// entry is one command or subcommand of the generated table.
type entry struct {
	name             string
	arity            int
	flags            []string
	first, last, stp int
	acl              []string
	specs            []spec
	info             *node // COMMAND INFO entry
	docs             *node // COMMAND DOCS value (a flattened map)
	subs             []*entry
	parent           *entry
	redis            bool
	rule             rule
	keysProc         string
	simpleKey        int
	hasKeys          bool
	index            int

	infoOff, infoEnd int
	docsOff, docsEnd int
	helpOff, helpEnd int
}

// spec is one key spec.
type spec struct {
	flags               []string
	keyword             string
	begin               int
	keynum              bool
	lastKey, limit      int
	keynumIdx, firstKey int
	keyStep             int
	unknown             bool // begin_search or find_keys of type "unknown"
}

// table is the generator's result.
type table struct {
	version  string
	entries  []*entry // dense index order
	top      int      // number of Redis top-level commands
	infoData []byte
	docsData []byte
	helpData []byte
}

func build(src *source) (*table, error) {
	if src.command.kind != '*' || src.docs.kind != '*' {
		return nil, errors.New("COMMAND or COMMAND DOCS did not reply with an array")
	}
	docs, err := src.docs.pairs()
	if err != nil {
		return nil, fmt.Errorf("COMMAND DOCS: %w", err)
	}
	var top []*entry
	for _, n := range src.command.elems {
		e, err := parseEntry(n, nil)
		if err != nil {
			return nil, err
		}
		if e.docs = docs[e.name]; e.docs == nil {
			return nil, fmt.Errorf("%s: no COMMAND DOCS entry", e.name)
		}
		if err := attachSubDocs(e); err != nil {
			return nil, err
		}
		top = append(top, e)
	}
	sort.Slice(top, func(i, j int) bool { return top[i].name < top[j].name })
	t := &table{version: src.version, top: len(top)}
	for _, e := range top {
		sort.Slice(e.subs, func(i, j int) bool { return e.subs[i].name < e.subs[j].name })
		t.entries = append(t.entries, e)
		t.entries = append(t.entries, e.subs...)
	}
	for _, x := range extraCommands() {
		parentName, _, _ := strings.Cut(x.name, "|")
		var parent *entry
		for _, e := range top {
			if e.name == parentName {
				parent = e
			}
		}
		if parent == nil || !strings.Contains(x.name, "|") {
			return nil, fmt.Errorf("extra command %s: only subcommands of known containers are supported", x.name)
		}
		for _, s := range parent.subs {
			if s.name == x.name {
				return nil, fmt.Errorf("extra command %s is known to redis %s; drop it from extraCommands", x.name, src.version)
			}
		}
		t.entries = append(t.entries, &entry{name: x.name, arity: x.arity, flags: x.flags, acl: x.acl, parent: parent})
	}
	for i, e := range t.entries {
		e.index = i
	}
	t.encodeData(top, src.help)
	if err := t.Classify(); err != nil {
		return nil, err
	}
	return t, nil
}

// parseEntry parses one COMMAND INFO entry (RESP2, 10 elements in Redis 7.0).
func parseEntry(n *node, parent *entry) (*entry, error) {
	if n.kind != '*' || len(n.elems) != 10 {
		return nil, fmt.Errorf("COMMAND entry with %d elements; want 10 (Redis 7.0 layout)", len(n.elems))
	}
	el := n.elems
	e := &entry{info: n, parent: parent, redis: true}
	e.name = el[0].str
	e.arity = int(el[1].num)
	e.first, e.last, e.stp = int(el[3].num), int(el[4].num), int(el[5].num)
	for _, f := range el[2].elems {
		e.flags = append(e.flags, f.str)
	}
	for _, a := range el[6].elems {
		e.acl = append(e.acl, a.str)
	}
	for _, s := range el[8].elems {
		sp, err := parseSpec(s)
		if err != nil {
			return nil, fmt.Errorf("%s: key spec: %w", e.name, err)
		}
		e.specs = append(e.specs, sp)
	}
	for _, s := range el[9].elems {
		sub, err := parseEntry(s, e)
		if err != nil {
			return nil, err
		}
		e.subs = append(e.subs, sub)
	}
	return e, nil
}

func parseSpec(n *node) (spec, error) {
	var sp spec
	m, err := n.pairs()
	if err != nil {
		return sp, err
	}
	for _, f := range m["flags"].elems {
		sp.flags = append(sp.flags, f.str)
	}
	bs, err := m["begin_search"].pairs()
	if err != nil {
		return sp, fmt.Errorf("begin_search: %w", err)
	}
	bspec, err := bs["spec"].pairs()
	if err != nil {
		return sp, fmt.Errorf("begin_search spec: %w", err)
	}
	switch bs["type"].str {
	case "index":
		sp.begin = int(bspec["index"].num)
	case "keyword":
		sp.keyword = bspec["keyword"].str
		sp.begin = int(bspec["startfrom"].num)
		if sp.keyword == "" {
			return sp, errors.New("empty begin_search keyword")
		}
	case "unknown":
		sp.unknown = true
	default:
		return sp, fmt.Errorf("unsupported begin_search type %q", bs["type"].str)
	}
	fk, err := m["find_keys"].pairs()
	if err != nil {
		return sp, fmt.Errorf("find_keys: %w", err)
	}
	fspec, err := fk["spec"].pairs()
	if err != nil {
		return sp, fmt.Errorf("find_keys spec: %w", err)
	}
	switch fk["type"].str {
	case "range":
		sp.lastKey = int(fspec["lastkey"].num)
		sp.keyStep = int(fspec["keystep"].num)
		sp.limit = int(fspec["limit"].num)
	case "keynum":
		sp.keynum = true
		sp.keynumIdx = int(fspec["keynumidx"].num)
		sp.firstKey = int(fspec["firstkey"].num)
		sp.keyStep = int(fspec["keystep"].num)
	case "unknown":
		sp.unknown = true
	default:
		return sp, fmt.Errorf("unsupported find_keys type %q", fk["type"].str)
	}
	if !sp.unknown && sp.keyStep < 1 {
		return sp, fmt.Errorf("key step %d", sp.keyStep)
	}
	return sp, nil
}

// attachSubDocs finds each subcommand's docs in its parent's "subcommands" map.
func attachSubDocs(e *entry) error {
	if len(e.subs) == 0 {
		return nil
	}
	m, err := e.docs.pairs()
	if err != nil {
		return fmt.Errorf("%s docs: %w", e.name, err)
	}
	subs, ok := m["subcommands"]
	if !ok {
		return fmt.Errorf("%s docs: no subcommands", e.name)
	}
	sm, err := subs.pairs()
	if err != nil {
		return fmt.Errorf("%s docs subcommands: %w", e.name, err)
	}
	for _, s := range e.subs {
		if s.docs = sm[s.name]; s.docs == nil {
			return fmt.Errorf("%s: no COMMAND DOCS entry", s.name)
		}
	}
	return nil
}

// encodeData writes the embedded reply data: COMMAND INFO entries, COMMAND DOCS
// name/value pairs and HELP replies, recording each command's span.
func (t *table) encodeData(top []*entry, help map[string]*node) {
	for _, e := range top {
		t.infoData = encodeInfo(t.infoData, e)
		t.docsData = encodeDocs(t.docsData, e)
	}
	for _, e := range t.entries {
		if e.parent == nil || e.name != e.parent.name+"|help" {
			continue
		}
		if h := help[e.parent.name]; h != nil {
			t.helpData = (&node{kind: '$', str: e.parent.name}).encode(t.helpData)
			e.helpOff = len(t.helpData)
			t.helpData = h.encode(t.helpData)
			e.helpEnd = len(t.helpData)
		}
	}
}

func encodeInfo(dst []byte, e *entry) []byte {
	e.infoOff = len(dst)
	dst = append(dst, "*10\r\n"...)
	for _, n := range e.info.elems[:9] {
		dst = n.encode(dst)
	}
	dst = fmt.Appendf(dst, "*%d\r\n", len(e.subs))
	for _, s := range e.subs {
		dst = encodeInfo(dst, s)
	}
	e.infoEnd = len(dst)
	return dst
}

func encodeDocs(dst []byte, e *entry) []byte {
	e.docsOff = len(dst)
	dst = (&node{kind: '$', str: e.name}).encode(dst)
	dst = fmt.Appendf(dst, "*%d\r\n", len(e.docs.elems))
	for i := 0; i < len(e.docs.elems); i += 2 {
		k, v := e.docs.elems[i], e.docs.elems[i+1]
		dst = k.encode(dst)
		if k.str != "subcommands" {
			dst = v.encode(dst)
			continue
		}
		dst = fmt.Appendf(dst, "*%d\r\n", 2*len(e.subs))
		for _, s := range e.subs {
			dst = encodeDocs(dst, s)
		}
	}
	e.docsEnd = len(dst)
	return dst
}

// gofmt formats generated source.
func gofmt(b *bytes.Buffer) ([]byte, error) {
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt generated code: %w", err)
	}
	return out, nil
}
