package kev

import (
	"cmp"
	"fmt"
	"time"
)

// dateLayout is the catalog's date form, YYYY-MM-DD.
const dateLayout = "2006-01-02"

// Dates outside these years are refused: the catalog started in 2021 and
// CVE ids in 1999, and a year 0 or 10000 would not survive every store.
const (
	minYear = 1970
	maxYear = 9999
)

// Date is a calendar date without a time or zone, as the catalog's
// dateAdded and dueDate are. The zero Date means "no date". It encodes as
// YYYY-MM-DD in JSON and text.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD strictly: two-digit month and day, a real
// day of the month, a year from 1970 to 9999.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil || len(s) != len(dateLayout) {
		return Date{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	d := DateOf(t)
	if d.Year < minYear || d.Year > maxYear {
		return Date{}, fmt.Errorf("%q is out of range (years %d to %d)", s, minYear, maxYear)
	}
	return d, nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// valid reports whether d is a real date in the accepted years.
func (d Date) valid() bool {
	return d.Year >= minYear && d.Year <= maxYear && DateOf(d.Time()) == d
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int {
	return cmp.Or(cmp.Compare(d.Year, o.Year), cmp.Compare(d.Month, o.Month), cmp.Compare(d.Day, o.Day))
}

// Before reports whether d is before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// MarshalText implements encoding.TextMarshaler: YYYY-MM-DD, empty for the
// zero Date.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDate's rules;
// empty text is the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
