package hashring

import "bytes"

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// HashTag returns the part of key that is hashed under hash tag tag, a
// two-character string such as "{}" (open, close). The rule is nutcracker's
// (server_pool_idx) and is the same as Redis Cluster's: find the first open
// character; find the first close character after it; if both exist and
// enclose at least one byte, the enclosed bytes are hashed, otherwise the
// whole key is. So "{user:1}.a" -> "user:1", "foo{}{bar}" -> the whole key,
// "foo{{bar}}zap" -> "{bar", "foo{" -> the whole key. With an open character
// equal to the close one ("$$"), "a$b$c" -> "b". A tag of any length other
// than two disables extraction. The result aliases key; HashTag does not
// allocate.
func HashTag(key []byte, tag string) []byte {
	if len(tag) != 2 {
		return key
	}
	open := bytes.IndexByte(key, tag[0])
	if open < 0 {
		return key
	}
	rest := key[open+1:]
	n := bytes.IndexByte(rest, tag[1])
	if n <= 0 { // no close character, or an empty tag
		return key
	}
	return rest[:n]
}

// Slot returns the Redis Cluster hash slot of key: CRC16/XMODEM of key, or
// of its "{...}" hash tag by the rule HashTag documents, modulo 16384.
// Slot is pure and does not allocate.
func Slot(key []byte) uint16 {
	return CRC16(HashTag(key, "{}")) & (SlotCount - 1)
}

// CRC16 returns the CRC-16/XMODEM checksum of b (polynomial 0x1021, initial
// value 0, no reflection, no final XOR) as Redis Cluster specifies it:
// CRC16("123456789") = 0x31C3. It is not nutcracker's crc16 hash.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16XModemTable[byte(crc>>8)^c]
	}
	return crc
}
