package testenv

import "testing"

func TestInfoField(t *testing.T) {
	info := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nempty:\r\n"
	for key, want := range map[string]string{
		"role": "slave", "master_link_status": "up", "empty": "", "missing": "", "rol": "",
	} {
		t.Run(key, func(t *testing.T) {
			if got := infoField(info, key); got != want {
				t.Errorf("infoField(%q) = %q, want %q", key, got, want)
			}
		})
	}
}
