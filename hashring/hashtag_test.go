package hashring

import "testing"

func TestHashTag(t *testing.T) {
	tests := []struct {
		name, key, tag, want string
	}{
		{"tag", "{user:1000}.profile", "{}", "user:1000"},
		{"same tag other suffix", "{user:1000}.session", "{}", "user:1000"},
		{"tag in the middle", "pre{mid}post", "{}", "mid"},
		{"no tag", "user:1000", "{}", "user:1000"},
		{"empty tag content", "{}.x", "{}", "{}.x"},
		{"empty first tag hashes whole key", "foo{}{bar}", "{}", "foo{}{bar}"},
		{"first close after first open", "foo{{bar}}zap", "{}", "{bar"},
		{"only the first tag", "foo{bar}{zap}", "{}", "bar"},
		{"unclosed", "foo{", "{}", "foo{"},
		{"unclosed with text", "foo{bar", "{}", "foo{bar"},
		{"close before open", "}{x}", "{}", "x"},
		{"close only", "foo}", "{}", "foo}"},
		{"whole key is tag", "{bar}", "{}", "bar"},
		{"empty key", "", "{}", ""},
		{"tagging disabled", "{user:1000}.profile", "", "{user:1000}.profile"},
		{"invalid tag length", "{a}", "{", "{a}"},
		{"same open and close", "a$b$c", "$$", "b"},
		{"same open and close, empty", "a$$b$", "$$", "a$$b$"},
		{"colons", "ns::id::rest", "::", "ns::id::rest"},
		{"colons with content", "ns:id:rest", "::", "id"},
		{"custom pair", "x<1>y", "<>", "1"},
		{"binary bytes", "\x00{\xff}\x00", "{}", "\xff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HashTag([]byte(tc.key), tc.tag); string(got) != tc.want {
				t.Errorf("HashTag(%q, %q) = %q, want %q", tc.key, tc.tag, got, tc.want)
			}
		})
	}
}

// TestSlot checks Redis Cluster slots; the expected values were obtained
// with CLUSTER KEYSLOT on redis-server 7.0.
func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 12739}, // CRC16 0x31C3
		{"foo", 12182},
		{"bar", 5061},
		{"a", 15495},
		{"", 0},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},    // empty first tag: whole key
		{"foo{{bar}}zap", 4015}, // hashes "{bar"
		{"{bar", 4015},
		{"foo{bar}{zap}", 5061}, // hashes "bar"
		{"foo{", 7673},
		{"{}", 15257},
		{"{user:1000}.profile", 1649},
		{"user:1000", 1649},
		{"}{x}", 16287},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := Slot([]byte(tc.key)); got != tc.want {
				t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.want)
			}
		})
	}
}

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"", 0},
		{"123456789", 0x31c3}, // the check value of CRC-16/XMODEM
		{"A", 0x58e5},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := CRC16([]byte(tc.in)); got != tc.want {
				t.Errorf("CRC16(%q) = %#04x, want %#04x", tc.in, got, tc.want)
			}
		})
	}
}
