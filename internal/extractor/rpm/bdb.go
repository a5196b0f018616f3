package rpm

import (
	"context"
	"encoding/binary"
	"fmt"
)

// rpm's Berkeley DB Packages file is a hash database of fixed-size pages
// (see dbinc/db_page.h in Berkeley DB's sources), in the byte order of the
// machine that wrote it:
//
//	page 0: metadata; magic 0x061561 at 12, page size at 20, encryption
//	  at 24, page type 8 at 25, last page number at 32
//	other pages: a 26-byte header (own page number at 8, next page at
//	  16, entry count at 20, free-space offset at 22, type at 25) and, on
//	  hash pages (type 13, or 2 before Berkeley DB 4.6), 16-bit offsets of
//	  key/value items that fill the page from its end downwards; free pages
//	  have type 0
//	an item is its type byte and either its bytes (type 1) or, when large,
//	  a reference {page, total length} to a chain of overflow pages (type 3;
//	  overflow pages have type 7, their byte count at 22, the next page at 16)
//
// Keys are header numbers (a 4-byte integer); key 0 holds rpm's count of
// header numbers, not a header. Reading every hash page in file order, as
// here, visits every bucket's pages once without the bucket arithmetic.
const (
	bdbHashMagic  = 0x061561
	bdbBtreeMagic = 0x053162
	bdbPageHeader = 26

	bdbPageInvalid      = 0
	bdbPageHashUnsorted = 2
	bdbPageOverflow     = 7
	bdbPageHashMeta     = 8
	bdbPageHash         = 13

	bdbItemKeyData = 1
	bdbItemOffPage = 3
)

// isBDB reports whether b starts with a Berkeley DB metadata page.
func isBDB(b []byte) bool {
	for _, m := range []uint32{binary.LittleEndian.Uint32(b[12:]), binary.BigEndian.Uint32(b[12:])} {
		if m == bdbHashMagic || m == bdbBtreeMagic {
			return true
		}
	}
	return false
}

func bdbBlobs(ctx context.Context, b []byte, c *collector) error {
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case order.Uint32(b[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(b[12:]) == bdbHashMagic:
		order = binary.BigEndian
	default:
		return fmt.Errorf("bdb: a Berkeley DB btree; rpm's Packages is a hash database")
	}
	if len(b) < 512 {
		return fmt.Errorf("bdb: %d bytes, shorter than the metadata page: truncated", len(b))
	}
	ps := uint64(order.Uint32(b[20:]))
	if ps < 512 || ps > 64<<10 || ps&(ps-1) != 0 {
		return fmt.Errorf("bdb: page size %d, want a power of two from 512 to 65536", ps)
	}
	if b[24] != 0 {
		return fmt.Errorf("bdb: encrypted database (algorithm %d)", b[24])
	}
	if b[25] != bdbPageHashMeta {
		return fmt.Errorf("bdb: metadata page of type %d, want %d", b[25], bdbPageHashMeta)
	}
	npages := uint64(order.Uint32(b[32:])) + 1
	if npages*ps > uint64(len(b)) {
		return fmt.Errorf("bdb: %d pages of %d bytes, but the file has %d bytes: truncated", npages, ps, len(b))
	}
	d := bdb{b: b, ps: ps, npages: npages, order: order, c: c}
	for pg := uint64(1); pg < npages; pg++ {
		if pg%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := d.hashPage(pg); err != nil {
			return fmt.Errorf("bdb: page %d: %w", pg, err)
		}
	}
	return nil
}

type bdb struct {
	b      []byte
	ps     uint64
	npages uint64
	order  binary.ByteOrder
	c      *collector
}

func (d *bdb) page(pg uint64) []byte { return d.b[pg*d.ps : (pg+1)*d.ps] }

// hashPage collects the headers of page pg if it is a hash page. Every page
// in use records its own number, which tells garbage from a page.
func (d *bdb) hashPage(pg uint64) error {
	p := d.page(pg)
	switch p[25] {
	case bdbPageHash, bdbPageHashUnsorted:
	case bdbPageOverflow:
		return d.numbered(pg)
	case bdbPageInvalid:
		return nil // free, or allocated for a bucket not yet used
	default:
		return fmt.Errorf("type %d, which a hash database does not have", p[25])
	}
	if err := d.numbered(pg); err != nil {
		return err
	}
	n := uint64(d.order.Uint16(p[20:]))
	if n%2 != 0 || bdbPageHeader+2*n > d.ps {
		return fmt.Errorf("%d entries do not make key/value pairs within the page", n)
	}
	// Item i spans from its offset to the offset of item i-1 (the page's
	// end for item 0).
	offset := func(i uint64) uint64 { return uint64(d.order.Uint16(p[bdbPageHeader+2*i:])) }
	for i := uint64(0); i < n; i += 2 {
		kend := d.ps
		if i > 0 {
			kend = offset(i - 1)
		}
		koff, voff := offset(i), offset(i+1)
		if !(bdbPageHeader+2*n <= voff && voff < koff && koff < kend && kend <= d.ps) {
			return fmt.Errorf("entry %d: item offsets %d, %d, %d out of order", i/2, voff, koff, kend)
		}
		key, val := p[koff:kend], p[voff:koff]
		if key[0] != bdbItemKeyData {
			return fmt.Errorf("entry %d: key of item type %d, want %d", i/2, key[0], bdbItemKeyData)
		}
		if k := key[1:]; len(k) == 4 && d.order.Uint32(k) == 0 {
			continue // rpm's header-number counter
		}
		blob, err := d.value(val)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i/2, err)
		}
		if err := d.c.add(blob); err != nil {
			return err
		}
	}
	return nil
}

func (d *bdb) numbered(pg uint64) error {
	if n := uint64(d.order.Uint32(d.page(pg)[8:])); n != pg {
		return fmt.Errorf("page says it is page %d: corrupt", n)
	}
	return nil
}

// value returns the bytes of a value item, following its overflow chain.
func (d *bdb) value(item []byte) ([]byte, error) {
	switch item[0] {
	case bdbItemKeyData:
		return item[1:], nil
	case bdbItemOffPage:
	default:
		return nil, fmt.Errorf("value of item type %d, want %d or %d", item[0], bdbItemKeyData, bdbItemOffPage)
	}
	if len(item) != 12 {
		return nil, fmt.Errorf("overflow reference of %d bytes, want 12", len(item))
	}
	pg, total := uint64(d.order.Uint32(item[4:])), uint64(d.order.Uint32(item[8:]))
	if total == 0 || total > uint64(d.c.left) {
		return nil, fmt.Errorf("overflow item of %d bytes; the database has %d bytes left to hold it: corrupt", total, d.c.left)
	}
	out := make([]byte, 0, total)
	// Every page adds at least one byte, so the chain ends within total
	// pages, whatever its links say.
	for uint64(len(out)) < total {
		if pg == 0 || pg >= d.npages {
			return nil, fmt.Errorf("overflow chain reaches page %d of %d after %d of %d bytes", pg, d.npages, len(out), total)
		}
		p := d.page(pg)
		if p[25] != bdbPageOverflow || d.numbered(pg) != nil {
			return nil, fmt.Errorf("overflow chain reaches page %d, not an overflow page", pg)
		}
		n := uint64(d.order.Uint16(p[22:]))
		if n == 0 || bdbPageHeader+n > d.ps || uint64(len(out))+n > total {
			return nil, fmt.Errorf("overflow page %d holds %d bytes; %d of %d read", pg, n, len(out), total)
		}
		out = append(out, p[bdbPageHeader:bdbPageHeader+n]...)
		pg = uint64(d.order.Uint32(p[16:]))
	}
	return out, nil
}
