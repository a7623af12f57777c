package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// tableDir is package command, where the dumps and the generated file live.
const tableDir = "../.."

// TestGeneratedTableIsCurrent regenerates the table from the committed dumps
// and rules and fails when it differs from the committed commands_gen.go: a
// rule changed without `go generate ./command`, or the file was edited.
func TestGeneratedTableIsCurrent(t *testing.T) {
	got, err := generate(tableDir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(tableDir, "commands_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("commands_gen.go differs from a regeneration at line %d:\n got: %s\nwant: %s\nrun `go generate ./command`", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("commands_gen.go has %d lines, a regeneration %d; run `go generate ./command`", len(wl), len(gl))
	}
}

// TestDumpsMustBeCanonical checks that generate reads a copy of the dumps
// and refuses dumps that it would re-encode differently (the spans in the Go
// file would then point at the wrong bytes) or that lack a version.
func TestDumpsMustBeCanonical(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{infoFile, docsFile, helpFile, versionFile} {
		b, err := os.ReadFile(filepath.Join(tableDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == versionFile {
			b = append(b, '\n') // whitespace around the version is fine
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := generate(dir); err != nil {
		t.Fatalf("copy of the dumps: %v", err)
	}
	// Swap the first two top-level entries: the same commands, not sorted.
	info, _ := os.ReadFile(filepath.Join(dir, infoFile))
	all, err := readAll(info)
	if err != nil {
		t.Fatal(err)
	}
	all.elems[0], all.elems[1] = all.elems[1], all.elems[0]
	var swapped []byte
	for _, n := range all.elems {
		swapped = n.encode(swapped)
	}
	if err := os.WriteFile(filepath.Join(dir, infoFile), swapped, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(dir); err == nil {
		t.Fatal("generate accepted a dump that is not sorted")
	}
	if err := os.Remove(filepath.Join(dir, versionFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(dir); err == nil {
		t.Fatal("generate accepted dumps without a version")
	}
}
