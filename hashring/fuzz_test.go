package hashring

import (
	"bytes"
	"testing"
)

func FuzzHashTag(f *testing.F) {
	for _, s := range []struct{ key, tag string }{
		{"{user:1000}.profile", "{}"}, {"foo{}{bar}", "{}"}, {"foo{{bar}}zap", "{}"},
		{"foo{", "{}"}, {"a$b$c", "$$"}, {"ns::id", "::"}, {"", ""}, {"{x}", "{"},
	} {
		f.Add([]byte(s.key), s.tag)
	}
	f.Fuzz(func(t *testing.T, key []byte, tag string) {
		got := HashTag(key, tag)
		if len(tag) != 2 {
			if !bytes.Equal(got, key) {
				t.Fatalf("tag %q of length %d changed the key", tag, len(tag))
			}
			return
		}
		if bytes.Equal(got, key) && len(got) == len(key) {
			return // the whole key, by the rule's fallbacks
		}
		// Otherwise got is the non-empty text right after the first open
		// character, up to the first close character after it.
		open := bytes.IndexByte(key, tag[0])
		if open < 0 || len(got) == 0 {
			t.Fatalf("HashTag(%q, %q) = %q without a tag", key, tag, got)
		}
		rest := key[open+1:]
		if !bytes.HasPrefix(rest, got) || len(rest) <= len(got) || rest[len(got)] != tag[1] ||
			bytes.IndexByte(got, tag[1]) >= 0 {
			t.Fatalf("HashTag(%q, %q) = %q, not the first tag", key, tag, got)
		}
		if tag == "{}" {
			// Keys with the same tag share a slot: wrap the tag in other text.
			wrapped := append(append([]byte("x{"), got...), "}y"...)
			if Slot(wrapped) != Slot(key) {
				t.Fatalf("Slot(%q) = %d but Slot(%q) = %d: same tag, different slots", key, Slot(key), wrapped, Slot(wrapped))
			}
		}
	})
}

// refCRC16 is CRC-16/XMODEM bit by bit, straight from its definition
// (polynomial 0x1021, initial value 0, no reflection): the reference for
// the table-driven CRC16.
func refCRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// refSlot is Redis Cluster's keyHashSlot, transcribed from cluster.c: the
// part between the first '{' and the next '}' when non-empty, else the key.
func refSlot(key []byte) int {
	s := bytes.IndexByte(key, '{')
	if s >= 0 {
		if e := bytes.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(refCRC16(key)) % 16384
}

func FuzzPick(f *testing.F) {
	// Rings are built once: 1..12 nodes of mixed weights, every distribution,
	// every hash for ketama and modula.
	type built struct {
		name string
		n    int
		r    Ring
	}
	var rings []built
	for n := 1; n <= 12; n++ {
		ns := make([]Node, n)
		for i := range ns {
			ns[i] = Node{Name: string(rune('a'+i)) + ":6379", Weight: i%3 + 1}
		}
		for _, dist := range distributions {
			hashes := HashNames()
			if dist == Consistent {
				hashes = []string{""}
			}
			for _, h := range hashes {
				r, err := New(dist, h, "{}", ns)
				if err != nil {
					f.Fatal(err)
				}
				rings = append(rings, built{dist + "/" + h, n, r})
			}
		}
	}
	f.Add([]byte("{user:1000}.profile"))
	f.Add([]byte(""))
	f.Add([]byte("\xff\x80{}"))
	f.Add([]byte("{a}{b}"))
	f.Fuzz(func(t *testing.T, key []byte) {
		for _, b := range rings {
			if i := b.r.Pick(key); i < 0 || i >= b.n {
				t.Fatalf("%s: Pick(%q) = %d with %d nodes", b.name, key, i, b.n)
			}
		}
		if got, want := int(Slot(key)), refSlot(key); got != want {
			t.Fatalf("Slot(%q) = %d, Redis's keyHashSlot says %d", key, got, want)
		}
	})
}
