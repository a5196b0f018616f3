package netpaths

import (
	"fmt"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
)

// Confidence levels of an answer that paths are unused.
const (
	ConfidenceUnknown = "unknown" // no flows: usage is not known
	ConfidenceLow     = "low"     // window under LowWindow
	ConfidenceMedium  = "medium"  // window under HighWindow
	ConfidenceHigh    = "high"
)

// Windows at which the confidence grows.
const (
	LowWindow  = 24 * time.Hour
	HighWindow = 7 * 24 * time.Hour
)

// Usage says what is known of the traffic: the window of the flows
// compared with the policies, and how far an answer "unused" can be
// trusted.
type Usage struct {
	// Known is false when there are no flows at all (no node agent
	// reports flows, no flow log is imported): paths are then never
	// called unused.
	Known bool `json:"known"`
	// Since and Until bound the window; WindowSeconds is its length.
	Since         time.Time `json:"since,omitzero"`
	Until         time.Time `json:"until,omitzero"`
	WindowSeconds int64     `json:"windowSeconds"`
	// Confidence is unknown, low, medium or high.
	Confidence string `json:"confidence"`
	// Sources name where the flows came from ("agents", a flow log).
	Sources []string `json:"sources,omitempty"`
	// Records counts the flow records compared; Unmatched those naming a
	// workload the inventory does not hold (deleted since, or of another
	// inventory), which are left out.
	Records   int `json:"records"`
	Unmatched int `json:"unmatched"`
	// Truncated is set when the window held more paths than the flow
	// store kept: a path listed unused may have been used, so the
	// confidence is low whatever the window.
	Truncated bool `json:"truncated,omitempty"`
}

// UsageOf returns what the set says about usage, before comparison
// (Records and Unmatched are counted by Analyze). A nil set, or one with
// neither records nor a window, is unknown usage.
func UsageOf(fs *flows.Set) Usage {
	if fs == nil || (len(fs.Records) == 0 && fs.Window() == 0) {
		return Usage{Confidence: ConfidenceUnknown}
	}
	w := fs.Window()
	u := Usage{Known: true, Since: fs.Since, Until: fs.Until, WindowSeconds: int64(w / time.Second), Sources: fs.Sources}
	u.Truncated = fs.Truncated
	switch {
	case w < LowWindow || fs.Truncated:
		u.Confidence = ConfidenceLow
	case w < HighWindow:
		u.Confidence = ConfidenceMedium
	default:
		u.Confidence = ConfidenceHigh
	}
	return u
}

// Notes returns what people should read about usage.
func (u Usage) Notes() []string {
	if !u.Known {
		return []string{"usage unknown: no node agent reports flows and no flow log is imported, so no path is called unused; the paths listed are the allowed ones, ranked by how much they widen the attack surface"}
	}
	w := time.Duration(u.WindowSeconds) * time.Second
	var notes []string
	switch {
	case u.Truncated:
		notes = append(notes, fmt.Sprintf("low confidence: flows cover %s but the window held more paths than were kept (the most recently seen are), so a path listed as unused may have been used", windowText(w)))
	case u.Confidence == ConfidenceLow:
		notes = append(notes, fmt.Sprintf("low confidence: flows cover %s, under 24 hours; short windows overstate unused paths (daily and weekly traffic such as backups, batch jobs and certificate renewals has not been seen yet)", windowText(w)))
	case u.Confidence == ConfidenceMedium:
		notes = append(notes, fmt.Sprintf("medium confidence: flows cover %s, under 7 days; weekly traffic may not have been seen yet", windowText(w)))
	default:
		notes = append(notes, fmt.Sprintf("flows cover %s", windowText(w)))
	}
	if u.Records == 0 {
		notes = append(notes, "no traffic was recorded in the window: every allowed path is unused, or the flow source sees nothing")
	}
	if u.Unmatched > 0 {
		notes = append(notes, fmt.Sprintf("%d flow records name workloads the inventory does not hold (deleted since?): left out", u.Unmatched))
	}
	return notes
}

// windowText renders a window for people: "3h", "2d 4h".
func windowText(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	days := int(d / (24 * time.Hour))
	if h := int((d % (24 * time.Hour)) / time.Hour); h > 0 {
		return fmt.Sprintf("%dd %dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}
