package config

import (
	"testing"
	"time"
)

func TestOutputLimitParse(t *testing.T) {
	p, err := Parse("f.yml", []byte(poolYAML(
		"client_output_buffer_limit:",
		"  normal: 64MB 16mb 10",
		"  pubsub: 1gb 8k 0",
		"client_write_timeout: 0",
	)))
	if err != nil {
		t.Fatal(err)
	}
	pc := p.Pools[0]
	if want := (OutputLimit{Hard: 64 << 20, Soft: 16 << 20, SoftSeconds: 10 * time.Second}); pc.OutputLimitNormal != want {
		t.Errorf("normal = %+v, want %+v", pc.OutputLimitNormal, want)
	}
	if want := (OutputLimit{Hard: 1 << 30, Soft: 8000}); pc.OutputLimitPubsub != want {
		t.Errorf("pubsub = %+v, want %+v", pc.OutputLimitPubsub, want)
	}
	if pc.ClientWriteTimeout != 0 {
		t.Errorf("client_write_timeout = %v, want 0", pc.ClientWriteTimeout)
	}

	// Defaults: a bounded normal class, Redis's pubsub class, and a write
	// timeout; a class left out keeps its default.
	p, err = Parse("f.yml", []byte(poolYAML("client_output_buffer_limit:", "  pubsub: 1mb 0 0")))
	if err != nil {
		t.Fatal(err)
	}
	pc = p.Pools[0]
	if pc.OutputLimitNormal != DefaultOutputLimitNormal || pc.OutputLimitNormal.Hard != 1<<30 {
		t.Errorf("default normal = %+v", pc.OutputLimitNormal)
	}
	if pc.OutputLimitPubsub != (OutputLimit{Hard: 1 << 20}) {
		t.Errorf("pubsub = %+v", pc.OutputLimitPubsub)
	}
	if d := Default("x"); d.OutputLimitPubsub != (OutputLimit{Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: time.Minute}) || d.ClientWriteTimeout != 30*time.Second {
		t.Errorf("defaults: pubsub %+v, write timeout %v", d.OutputLimitPubsub, d.ClientWriteTimeout)
	}
}

func TestOutputLimitErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"not a mapping", poolYAML("client_output_buffer_limit: 32mb"),
			`f.yml:2: p.client_output_buffer_limit: want a mapping of class (normal, pubsub) to "<hard> <soft> <seconds>", got "32mb"`},
		{"two fields", poolYAML("client_output_buffer_limit:", "  normal: 32mb 8mb"),
			`f.yml:3: p.client_output_buffer_limit: normal: want "<hard> <soft> <seconds>" such as "32mb 8mb 60", got "32mb 8mb"`},
		{"bad size", poolYAML("client_output_buffer_limit:", "  pubsub: 32xb 8mb 60"),
			`f.yml:3: p.client_output_buffer_limit: pubsub: hard limit: want a size such as 256mb, 64kb or 1048576, got "32xb"`},
		{"negative size", poolYAML("client_output_buffer_limit:", "  pubsub: 32mb -8mb 60"),
			`f.yml:3: p.client_output_buffer_limit: pubsub: soft limit: want a size such as 256mb, 64kb or 1048576, got "-8mb"`},
		{"bad seconds", poolYAML("client_output_buffer_limit:", "  pubsub: 32mb 8mb 1m"),
			`f.yml:3: p.client_output_buffer_limit: pubsub: soft seconds: want a whole number of seconds >= 0, got "1m"`},
		{"unknown class", poolYAML("client_output_buffer_limit:", "  monitor: 1mb 0 0"),
			`f.yml:3: p.client_output_buffer_limit: unknown class "monitor"; want normal or pubsub`},
		{"replica class", poolYAML("client_output_buffer_limit:", "  replica: 1mb 0 0"),
			`f.yml:3: p.client_output_buffer_limit: class replica: the proxy has no replica clients; want normal or pubsub`},
		{"unlimited normal", poolYAML("client_output_buffer_limit:", "  normal: 0 0 0"),
			`f.yml:2: p.client_output_buffer_limit: normal: no limit (0 0 0) would let a client that stops reading grow the proxy without bound; set a hard limit such as 256mb`},
		{"negative write timeout", poolYAML("client_write_timeout: -1"),
			`f.yml:2: p.client_write_timeout: must be >= 0 (0 turns it off), got -1 ms`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yml", []byte(tt.yaml))
			if got := errText(err); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
