package hashring

import (
	"errors"
	"hash/crc32"
	"testing"
)

// hashInputs are the keys of hashVectors, chosen to exercise empty keys,
// every tail length of the word-wise hashes, keys of whole words (4 and 12
// bytes: no tail, and exactly one lookup3 block), keys longer than one lookup3
// block, and bytes >= 0x80 (which nutcracker sign-extends in some hashes).
var hashInputs = [...]string{"", "a", "foo", "123456789", "hello world!!", "\x80", "\xff\xfe\xfd", "ключ:42", "abcdefghijklmnopqrstuvwxyz", "abcd", "abcdefghijkl"}

// hashVectors are regression values. The nutcracker ones were produced by
// this package after TestNutcrackerCompat had confirmed, for every hash,
// that ketama and modula place keys (including non-ASCII ones) exactly
// where nutcracker 0.5.0 does. Independent anchors are checked separately
// in TestHashKnownValues.
var hashVectors = []struct {
	name string
	want [len(hashInputs)]uint32
}{
	{"one_at_a_time", [...]uint32{0x00000000, 0xca2e9442, 0x238678dd, 0xc66b58c5, 0x53313358, 0xc31d4e27, 0x475549b8, 0xaf840969, 0xb9f5ed0a, 0xcd8b6206, 0x605b0340}},
	{"md5", [...]uint32{0xd98c1dd4, 0xb975c10c, 0xdb18bdac, 0x94e7f925, 0xd4990557, 0x7edd398d, 0xc24e6789, 0x88223697, 0xd7d3fcc3, 0x4c71fce2, 0x06d6c99f}},
	{"crc16", [...]uint32{0x00000000, 0x00007c87, 0x0c3caf96, 0x869031c3, 0x3b576551, 0x00009188, 0x1e0dc11f, 0x45d9fa45, 0x195463ac, 0x749da836, 0xa372b7ff}},
	{"crc32", [...]uint32{0x00000000, 0x000068b7, 0x00000c73, 0x00004bf4, 0x00002d6b, 0x00003fba, 0x000008ea, 0x00005583, 0x00004c27, 0x00006d82, 0x00007678}},
	{"crc32a", [...]uint32{0x00000000, 0xe8b7be43, 0x8c736521, 0xcbf43926, 0xad6b56f4, 0x3fba6cad, 0x08eaaf6d, 0xd583ae6c, 0x4c2750bd, 0xed82cd11, 0xf6781b24}},
	{"fnv1_64", [...]uint32{0x84222325, 0x8601b7be, 0x6ba13533, 0x2bf916d6, 0x2ce5f155, 0x79fe485f, 0x93edf087, 0x09909a97, 0x0a6338d8, 0xfb844f95, 0xda7a6075}},
	{"fnv1a_64", [...]uint32{0x84222325, 0x8601ec8c, 0xfed9d577, 0x23c6cdfc, 0xf02f1f09, 0x79fdec5f, 0x8f0e92d7, 0x51fca167, 0xcdc382a2, 0xee0724dd, 0xe05a5cb5}},
	{"fnv1_32", [...]uint32{0x811c9dc5, 0x050c5d7e, 0x408f5e13, 0x24148816, 0xdcb730b5, 0xfaf3a29f, 0x914c9107, 0xbfa8cc97, 0x819dafd8, 0xb9de7375, 0x65adc2d5}},
	{"fnv1a_32", [...]uint32{0x811c9dc5, 0xe40c292c, 0xa9f37ed7, 0xbb86b11c, 0x366eb929, 0x04f3b29f, 0xbf6d4517, 0x55a9df27, 0xb0bc0c82, 0xce3479bd, 0xe8fb3e15}},
	{"hsieh", [...]uint32{0x00000000, 0x93642e87, 0x76d4d427, 0xe4fc1670, 0xfa4a5d23, 0xd6f4cb32, 0xd989515e, 0x3f34cb63, 0xdb43bf0f, 0x3ab452d8, 0x5f624189}},
	{"murmur", [...]uint32{0x00000000, 0x4b41757c, 0xc4e0338f, 0xb7760690, 0x4dd4de3f, 0x90556245, 0xc2e4b7ff, 0x08a3b990, 0x0792928a, 0xef6a86af, 0xb805134a}},
	{"jenkins", [...]uint32{0xdeadbefc, 0xe0a38690, 0x99f84f99, 0x19777af6, 0x7b6def0f, 0xb16fde48, 0x222bd93e, 0x886a3f7c, 0x2acd86a3, 0xd512151a, 0xfb8b49e3}},
	{"xxhash", [...]uint32{0xbe9e32ae, 0x7bc2aaaa, 0x6a7bba97, 0xcc5eef58, 0x9670997a, 0xf472a2b7, 0x1a608807, 0xa471cf70, 0x35687124, 0x0c5eb57c, 0xe93a6360}},
}

func TestHashVectors(t *testing.T) {
	if len(hashVectors) != len(HashNames()) {
		t.Fatalf("%d vector rows for %d hashes", len(hashVectors), len(HashNames()))
	}
	for _, tc := range hashVectors {
		t.Run(tc.name, func(t *testing.T) {
			f, err := HashFunc(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			for i, in := range hashInputs {
				if got := f([]byte(in)); got != tc.want[i] {
					t.Errorf("%s(%q) = %#08x, want %#08x", tc.name, in, got, tc.want[i])
				}
			}
		})
	}
}

// TestHashKnownValues checks values published independently of nutcracker.
func TestHashKnownValues(t *testing.T) {
	tests := []struct {
		name, hash, in string
		want           uint32
	}{
		{"FNV-1a 32 of a", "fnv1a_32", "a", 0xe40c292c},
		{"FNV-1 32 of a", "fnv1_32", "a", 0x050c5d7e},
		{"FNV-1a 32 offset basis", "fnv1a_32", "", 0x811c9dc5},
		{"CRC-32 check value", "crc32a", "123456789", 0xcbf43926},
		{"libmemcached crc32 of the check value", "crc32", "123456789", (0xcbf43926 >> 16) & 0x7fff},
		{"MD5 of empty, first word little-endian", "md5", "", 0xd98c1dd4},
		{"crc16 of one byte is XMODEM", "crc16", "1", uint32(CRC16([]byte("1")))},
		{"jenkins of empty is its initial state", "jenkins", "", 0xdeadbeef + 13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := HashFunc(tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			if got := f([]byte(tc.in)); got != tc.want {
				t.Errorf("%s(%q) = %#08x, want %#08x", tc.hash, tc.in, got, tc.want)
			}
		})
	}
}

// TestLookup3 checks the lookup3 core against the values printed by the
// driver in Bob Jenkins' lookup3.c.
func TestLookup3(t *testing.T) {
	tests := []struct {
		in      string
		initval uint32
		want    uint32
	}{
		{"", 0, 0xdeadbeef},
		{"", 0xdeadbeef, 0xbd5b7dde},
		{"Four score and seven years ago", 0, 0x17770551},
		{"Four score and seven years ago", 1, 0xcd628161},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := lookup3([]byte(tc.in), tc.initval); got != tc.want {
				t.Errorf("lookup3(%q, %#x) = %#08x, want %#08x", tc.in, tc.initval, got, tc.want)
			}
		})
	}
}

// TestFNV64Truncation checks the claim hash.go relies on: nutcracker's
// 64-bit FNV state, truncated to 32 bits at the end, equals the 32-bit
// computation with truncated constants.
func TestFNV64Truncation(t *testing.T) {
	ref := func(key []byte, alt bool) uint32 {
		h := uint64(0xcbf29ce484222325)
		for _, b := range key {
			v := uint64(int64(int8(b))) // (uint64_t) of a signed char
			if alt {
				h ^= v
				h *= 0x100000001b3
			} else {
				h *= 0x100000001b3
				h ^= v
			}
		}
		return uint32(h)
	}
	for _, in := range append(hashInputs[:], "\x00\x7f\x80\xff", "a longer key with several words in it") {
		if got, want := hashFNV1x64([]byte(in)), ref([]byte(in), false); got != want {
			t.Errorf("fnv1_64(%q) = %#08x, 64-bit reference %#08x", in, got, want)
		}
		if got, want := hashFNV1a64([]byte(in)), ref([]byte(in), true); got != want {
			t.Errorf("fnv1a_64(%q) = %#08x, 64-bit reference %#08x", in, got, want)
		}
	}
}

// TestHashCRC16LowBits checks that nutcracker's untruncated crc16 agrees
// with CRC16/XMODEM in its low 16 bits, which never depend on the bits
// above them.
func TestHashCRC16LowBits(t *testing.T) {
	for _, in := range hashInputs {
		if got, want := uint16(hashCRC16([]byte(in))), CRC16([]byte(in)); got != want {
			t.Errorf("low bits of crc16(%q) = %#04x, CRC16/XMODEM %#04x", in, got, want)
		}
	}
}

func TestHashCRC32aIsIEEE(t *testing.T) {
	f, err := HashFunc("crc32a")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range hashInputs {
		if got, want := f([]byte(in)), crc32.ChecksumIEEE([]byte(in)); got != want {
			t.Errorf("crc32a(%q) = %#08x, want %#08x", in, got, want)
		}
	}
}

func TestHashFuncUnknown(t *testing.T) {
	for _, name := range []string{"", "FNV1A_64", "random", "sha1", "md5 "} {
		t.Run(name, func(t *testing.T) {
			f, err := HashFunc(name)
			if !errors.Is(err, ErrUnknownHash) || f != nil {
				t.Errorf("HashFunc(%q) = %v, %v; want nil, ErrUnknownHash", name, f != nil, err)
			}
		})
	}
}

// TestHashKindDispatch checks that the switch rings use agrees with the
// functions HashFunc returns.
func TestHashKindDispatch(t *testing.T) {
	for k := range hashKinds {
		for _, in := range hashInputs {
			if got, want := k.sum([]byte(in)), hashFuncs[k]([]byte(in)); got != want {
				t.Errorf("%s: kind dispatch %#08x, func %#08x", hashNames[k], got, want)
			}
		}
	}
}

func TestHashNamesIsACopy(t *testing.T) {
	a := HashNames()
	a[0] = "mutated"
	if HashNames()[0] != "one_at_a_time" {
		t.Fatal("HashNames exposes package state")
	}
}
