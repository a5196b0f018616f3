package kev

import (
	"bytes"
	"encoding/json"
)

// SniffLen is how many leading bytes Sniff wants to decide; fewer work
// when the input is shorter.
const SniffLen = 4096

// catalogTitle is the title CISA's feed carries.
const catalogTitle = "CISA Catalog of Known Exploited Vulnerabilities"

// Sniff reports whether prefix, the first bytes of a file, looks like a
// KEV catalog rather than, say, an OSV record: a JSON object with a
// top-level catalogVersion or dateReleased, CISA's title, or a
// vulnerabilities array whose first entry has a cveID. It reads JSON tokens
// until one of those shows or the prefix ends, so a key appearing inside
// another document's text does not count. A true answer is a guess that
// Parse confirms or refutes.
func Sniff(prefix []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(prefix, utf8BOM)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	// depth counts open objects and arrays; the top-level object is 1.
	// inVulns is the depth of the top-level vulnerabilities array, 0 when
	// outside it.
	depth, inVulns := 1, 0
	expectKey := true // at depth 1, whether the next string is a key
	var key string    // the last top-level key
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				depth++
				if depth == 2 && v == '[' && key == "vulnerabilities" {
					inVulns = 2
				}
			default:
				depth--
				if depth < 2 {
					inVulns = 0
				}
				if depth == 0 {
					return false
				}
			}
			if depth == 1 {
				expectKey = true
			}
			continue
		case string:
			if depth == 1 && expectKey {
				key = v
				if key == "catalogVersion" || key == "dateReleased" {
					return true
				}
				expectKey = false
				continue
			}
			if depth == 1 && key == "title" && v == catalogTitle {
				return true
			}
			// A key of an entry: the decoder hands keys and values alike,
			// but a value "cveID" would still be KEV-shaped enough.
			if inVulns == 2 && depth == 3 && v == "cveID" {
				return true
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}
