package hashring

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// HashFunc returns the key hash function called name: one of the twelve
// hashes nutcracker (twemproxy 0.5) offers — one_at_a_time, md5, crc16,
// crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur,
// jenkins — or xxhash. Every function is pure, safe for concurrent use and
// allocation-free.
//
// The nutcracker hashes return exactly what nutcracker 0.5.0 built for
// x86-64 computes, including its quirks: several of its C functions read the
// key through a signed char, so a byte >= 0x80 is sign-extended before it is
// mixed in (one_at_a_time, all four fnv variants, and the third tail byte of
// hsieh); fnv1_64 and fnv1a_64 return only the low 32 bits of the state and
// therefore equal 32-bit FNV with the 64-bit offset basis and prime
// truncated to 32 bits; crc32 is libmemcached's 15-bit variant and crc32a
// is the standard CRC-32 (IEEE); md5 is the first four digest bytes read
// little-endian. xxhash is xxHash64 folded to 32 bits by XOR of its high
// and low halves; nutcracker has no such hash.
func HashFunc(name string) (func([]byte) uint32, error) {
	k, err := hashKindOf(name)
	if err != nil {
		return nil, err
	}
	return hashFuncs[k], nil
}

// hashKind names one hash function; rings dispatch on it with a switch so
// that keys passed to Pick do not escape through an indirect call.
type hashKind uint8

const (
	hOneAtATime hashKind = iota
	hMD5
	hCRC16
	hCRC32
	hCRC32a
	hFNV1x64
	hFNV1a64
	hFNV1x32
	hFNV1a32
	hHsieh
	hMurmur
	hJenkins
	hXX
	hashKinds // number of hash kinds
)

// hashFuncs and hashNames are indexed by hashKind; never written to.
var (
	hashFuncs = [hashKinds]func([]byte) uint32{
		hashOneAtATime, hashMD5, hashCRC16, hashCRC32, crc32.ChecksumIEEE,
		hashFNV1x64, hashFNV1a64, hashFNV1x32, hashFNV1a32, hashHsieh,
		hashMurmur, hashJenkins, hashXX,
	}
	hashNames = [hashKinds]string{
		"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
		"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
		"xxhash",
	}
)

func hashKindOf(name string) (hashKind, error) {
	for k, n := range hashNames {
		if n == name {
			return hashKind(k), nil
		}
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownHash, name)
}

// sum hashes b with the function k names.
func (k hashKind) sum(b []byte) uint32 {
	switch k {
	case hOneAtATime:
		return hashOneAtATime(b)
	case hMD5:
		return hashMD5(b)
	case hCRC16:
		return hashCRC16(b)
	case hCRC32:
		return hashCRC32(b)
	case hCRC32a:
		return crc32.ChecksumIEEE(b)
	case hFNV1x64:
		return hashFNV1x64(b)
	case hFNV1a64:
		return hashFNV1a64(b)
	case hFNV1x32:
		return hashFNV1x32(b)
	case hFNV1a32:
		return hashFNV1a32(b)
	case hHsieh:
		return hashHsieh(b)
	case hMurmur:
		return hashMurmur(b)
	case hJenkins:
		return hashJenkins(b)
	default:
		return hashXX(b)
	}
}

// HashNames lists the names HashFunc accepts, nutcracker's in its own order
// followed by xxhash.
func HashNames() []string { return slices.Clone(hashNames[:]) }

// sx widens a key byte the way nutcracker's C code does when it reads the
// key through a (signed) char on x86-64: bytes >= 0x80 become 0xFFFFFFxx.
func sx(b byte) uint32 { return uint32(int32(int8(b))) }

func hashOneAtATime(key []byte) uint32 {
	var v uint32
	for _, b := range key {
		v += sx(b)
		v += v << 10
		v ^= v >> 6
	}
	v += v << 3
	v ^= v >> 11
	v += v << 15
	return v
}

func hashMD5(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// hashCRC16 is nutcracker 0.5's crc16: the CRC-16/XMODEM table step, but
// on a 32-bit accumulator that is never truncated, so bits shifted out of
// the low 16 stay in the result. For keys of up to two bytes it equals
// CRC16/XMODEM; for longer keys it does not, and it is not the slot hash of
// Redis Cluster (see CRC16 and Slot for that one).
func hashCRC16(key []byte) uint32 {
	var crc uint32
	for _, b := range key {
		crc = crc<<8 ^ uint32(crc16XModemTable[byte(crc>>8)^b])
	}
	return crc
}

// hashCRC32 is libmemcached's crc32: bits 16..30 of the standard CRC-32.
func hashCRC32(key []byte) uint32 {
	return crc32.ChecksumIEEE(key) >> 16 & 0x7fff
}

// FNV parameters as nutcracker uses them. The 64-bit ones are truncated to
// 32 bits because only the low 32 bits of nutcracker's 64-bit state reach its
// result, and those depend only on the low 32 bits of the operands.
const (
	fnv32Offset   uint32 = 2166136261
	fnv32Prime    uint32 = 16777619
	fnv64OffsetLo uint32 = 0x84222325 // uint32(0xcbf29ce484222325)
	fnv64PrimeLo  uint32 = 0x000001b3 // uint32(0x100000001b3)
)

func hashFNV1x64(key []byte) uint32 { return fnv1(key, fnv64OffsetLo, fnv64PrimeLo) }
func hashFNV1a64(key []byte) uint32 { return fnv1a(key, fnv64OffsetLo, fnv64PrimeLo) }
func hashFNV1x32(key []byte) uint32 { return fnv1(key, fnv32Offset, fnv32Prime) }
func hashFNV1a32(key []byte) uint32 { return fnv1a(key, fnv32Offset, fnv32Prime) }

// fnv1 multiplies then xors each (sign-extended) byte; fnv1a xors first.
func fnv1(key []byte, h, prime uint32) uint32 {
	for _, b := range key {
		h *= prime
		h ^= sx(b)
	}
	return h
}

func fnv1a(key []byte, h, prime uint32) uint32 {
	for _, b := range key {
		h ^= sx(b)
		h *= prime
	}
	return h
}

func le16(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 }

// hashHsieh is Paul Hsieh's SuperFastHash as nutcracker ships it (hash 0
// for the empty key, the third byte of a 3-byte tail sign-extended).
func hashHsieh(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	var h uint32
	for len(key) >= 4 {
		h += le16(key)
		tmp := le16(key[2:])<<11 ^ h
		h = h<<16 ^ tmp
		key = key[4:]
		h += h >> 11
	}
	switch len(key) {
	case 3:
		h += le16(key)
		h ^= h << 16
		h ^= sx(key[2]) << 18
		h += h >> 11
	case 2:
		h += le16(key)
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(key[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	h += h >> 6
	return h
}

// hashMurmur is MurmurHash2 with nutcracker's length-dependent seed
// 0xdeadbeef*len.
func hashMurmur(key []byte) uint32 {
	const m = 0x5bd1e995
	n := uint32(len(key))
	h := 0xdeadbeef*n ^ n
	for len(key) >= 4 {
		k := binary.LittleEndian.Uint32(key)
		k *= m
		k ^= k >> 24
		k *= m
		h *= m
		h ^= k
		key = key[4:]
	}
	switch len(key) {
	case 3:
		h ^= uint32(key[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// hashJenkins is Bob Jenkins' lookup3 hashlittle with initval 13, which is
// what nutcracker's jenkins hash computes on a little-endian machine.
func hashJenkins(key []byte) uint32 { return lookup3(key, 13) }

// lookup3 is hashlittle from Bob Jenkins' lookup3.c (2006) for a
// little-endian machine, where its aligned and byte-wise paths agree.
func lookup3(key []byte, initval uint32) uint32 {
	a := 0xdeadbeef + uint32(len(key)) + initval
	b, c := a, a
	if len(key) == 0 {
		return c
	}
	for len(key) > 12 {
		a += binary.LittleEndian.Uint32(key)
		b += binary.LittleEndian.Uint32(key[4:])
		c += binary.LittleEndian.Uint32(key[8:])
		// mix(a, b, c)
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 6)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 8)
		b += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 19)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 4)
		b += a
		key = key[12:]
	}
	// The last 1..12 bytes, zero-padded, as three little-endian words.
	var tail [12]byte
	copy(tail[:], key)
	a += binary.LittleEndian.Uint32(tail[0:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	// final(a, b, c)
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

func hashXX(key []byte) uint32 {
	h := xxhash.Sum64(key)
	return uint32(h) ^ uint32(h>>32)
}
