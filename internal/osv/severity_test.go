package osv

import (
	"fmt"
	"testing"
)

func TestSeverityOf(t *testing.T) {
	tests := []struct {
		name, rec string
		level     string
		score     float64
	}{
		{"cvss 3.1", `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`, "critical", 9.8},
		{"cvss 3.0", `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.0/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N"}]}`, "low", 2.8},
		{"cvss 4 preferred", `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N"},{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`, "critical", 9.3},
		{"per-package vector", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"m"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}]}`, "medium", 5.9},
		{"bad vector falls back to text", `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/garbage"}],"database_specific":{"severity":"HIGH"}}`, "high", 0},
		{"ghsa moderate", `{"id":"A","database_specific":{"severity":"MODERATE"}}`, "medium", 0},
		{"ecosystem_specific", `{"id":"A","affected":[{"package":{"ecosystem":"Red Hat","name":"m"},"ecosystem_specific":{"severity":"Important"}}]}`, "high", 0},
		{"none", `{"id":"A"}`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level, score := SeverityOf(mustParse(t, tt.rec))
			if level != tt.level || fmt.Sprintf("%.1f", score) != fmt.Sprintf("%.1f", tt.score) {
				t.Errorf("SeverityOf = %q, %.1f; want %q, %.1f", level, score, tt.level, tt.score)
			}
		})
	}
}
