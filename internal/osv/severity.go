package osv

import (
	"encoding/json"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity levels returned by SeverityOf.
const (
	LevelCritical = "critical"
	LevelHigh     = "high"
	LevelMedium   = "medium"
	LevelLow      = "low"
	LevelNone     = "none"
)

// SeverityOf returns the record's severity: from its CVSS vectors when it
// has any (v4 preferred, then v3.1/v3.0, then v2; record-level before
// per-package), scored with github.com/pandatix/go-cvss; otherwise the
// advisory's own rating text in database_specific or ecosystem_specific
// ("HIGH", "moderate", "important"…), normalised, with score 0. It returns
// "" when the record says nothing about severity.
func SeverityOf(r *Record) (level string, score float64) {
	sevs := append([]Severity(nil), r.Severity...)
	for _, a := range r.Affected {
		sevs = append(sevs, a.Severity...)
	}
	for _, typ := range []string{SeverityCVSSv4, SeverityCVSSv3, SeverityCVSSv2} {
		for _, s := range sevs {
			if s.Type != typ {
				continue
			}
			if score, ok := cvssScore(s.Score); ok {
				return levelOf(score), score
			}
		}
	}
	if l := textLevel(r.DatabaseSpecific); l != "" {
		return l, 0
	}
	for _, a := range r.Affected {
		if l := textLevel(a.DatabaseSpecific); l != "" {
			return l, 0
		}
		if l := textLevel(a.EcosystemSpecific); l != "" {
			return l, 0
		}
	}
	return "", 0
}

// cvssScore returns the base score of a CVSS vector.
func cvssScore(vector string) (float64, bool) {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		if c, err := gocvss40.ParseVector(vector); err == nil {
			return c.Score(), true
		}
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		if c, err := gocvss31.ParseVector(vector); err == nil {
			return c.BaseScore(), true
		}
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		if c, err := gocvss30.ParseVector(vector); err == nil {
			return c.BaseScore(), true
		}
	default:
		if c, err := gocvss20.ParseVector(vector); err == nil {
			return c.BaseScore(), true
		}
	}
	return 0, false
}

// levelOf maps a score to the CVSS v3/v4 qualitative rating.
func levelOf(score float64) string {
	switch {
	case score >= 9.0:
		return LevelCritical
	case score >= 7.0:
		return LevelHigh
	case score >= 4.0:
		return LevelMedium
	case score >= 0.1:
		return LevelLow
	}
	return LevelNone
}

// textLevel reads a "severity" (or "urgency") text from a *_specific
// object and normalises it.
func textLevel(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v struct {
		Severity any    `json:"severity"`
		Urgency  string `json:"urgency"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	if s, ok := v.Severity.(string); ok {
		if l := NormaliseLevel(s); l != "" {
			return l
		}
	}
	return NormaliseLevel(v.Urgency)
}

// NormaliseLevel maps an advisory's rating text to critical, high, medium,
// low or none; "" when the text is not a rating.
func NormaliseLevel(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return LevelCritical
	case "high", "important", "severe":
		return LevelHigh
	case "medium", "moderate":
		return LevelMedium
	case "low", "minor", "negligible", "unimportant":
		return LevelLow
	case "none":
		return LevelNone
	}
	return ""
}
