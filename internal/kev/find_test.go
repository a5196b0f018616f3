package kev

import (
	"testing"
	"time"
)

func TestFindByIDOrAlias(t *testing.T) {
	d, _ := ParseDate("2024-01-02")
	c, err := New("v", time.Time{}, []Entry{{CVEID: "CVE-2024-0001", VendorProject: "v", Product: "p", VulnerabilityName: "n",
		DateAdded: d, DueDate: d, ShortDescription: "s", RequiredAction: "a", KnownRansomwareCampaignUse: RansomwareUnknown}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id      string
		aliases []string
		want    bool
	}{
		{"CVE-2024-0001", nil, true},
		{"GHSA-xxxx-yyyy-zzzz", []string{"GO-2024-1", "cve-2024-0001"}, true},
		{"GHSA-xxxx-yyyy-zzzz", []string{"CVE-2024-0002"}, false},
	} {
		if e, ok := c.Find(tc.id, tc.aliases); ok != tc.want || ok && e.CVEID != "CVE-2024-0001" {
			t.Errorf("Find(%s, %v) = %s, %v", tc.id, tc.aliases, e.CVEID, ok)
		}
	}
}
