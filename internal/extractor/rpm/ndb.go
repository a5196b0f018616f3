package rpm

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// NDB, rpm's own format (Packages.db, the default on SUSE since SLE 15 SP3),
// is little-endian and laid out in 16-byte blocks:
//
//	32-byte header: magic "RpmP", version 0, generation, slot pages, ...
//	slot pages (4 KiB each, the first one after the header): 16-byte slots
//	  {magic "Slot", package index, block offset, block count}, offset 0
//	  for a free slot
//	blobs, at a slot's block offset: a 16-byte head {magic "BlbS", package
//	  index, generation, length}, the header blob, padding, and a 12-byte
//	  tail {Adler-32 of everything before it, length, magic "BlbE"}
//
// See lib/backend/ndb/rpmpkg.c in rpm's sources.
const (
	ndbMagic      = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic  = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbHeadMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbTailMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbHeaderSize = 32
	ndbPageSize   = 4096
	ndbBlockSize  = 16
	ndbSlotSize   = 16
	ndbBlobHead   = 16
	ndbBlobTail   = 12
)

func ndbBlobs(ctx context.Context, b []byte, c *collector) error {
	le := binary.LittleEndian
	if len(b) < ndbHeaderSize {
		return fmt.Errorf("ndb: %d bytes, shorter than the header", len(b))
	}
	if v := le.Uint32(b[4:]); v != 0 {
		return fmt.Errorf("ndb: format version %d, want 0", v)
	}
	pages := le.Uint32(b[12:])
	if pages == 0 || uint64(pages)*ndbPageSize > uint64(len(b)) {
		return fmt.Errorf("ndb: %d slot pages do not fit the file's %d bytes: truncated or corrupt", pages, len(b))
	}
	if len(b)%ndbBlockSize != 0 {
		return fmt.Errorf("ndb: %d bytes, not a whole number of %d-byte blocks: truncated", len(b), ndbBlockSize)
	}
	blocks := uint64(len(b) / ndbBlockSize)
	minBlock := uint64(pages) * ndbPageSize / ndbBlockSize
	end := int(pages) * ndbPageSize
	for off, slot := ndbHeaderSize, 0; off < end; off, slot = off+ndbSlotSize, slot+1 {
		if slot%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s := b[off : off+ndbSlotSize]
		if le.Uint32(s) != ndbSlotMagic {
			return fmt.Errorf("ndb: slot %d: bad magic %#x", slot, le.Uint32(s))
		}
		idx, blkoff, blkcnt := le.Uint32(s[4:]), uint64(le.Uint32(s[8:])), uint64(le.Uint32(s[12:]))
		if blkoff == 0 {
			continue // free
		}
		if idx == 0 || blkcnt == 0 || blkoff < minBlock || blkoff+blkcnt > blocks {
			return fmt.Errorf("ndb: slot %d: package %d at blocks %d+%d outside the file's %d blocks: truncated or corrupt", slot, idx, blkoff, blkcnt, blocks)
		}
		blob, err := ndbBlob(b[blkoff*ndbBlockSize:(blkoff+blkcnt)*ndbBlockSize], idx)
		if err != nil {
			return fmt.Errorf("ndb: package %d: %w", idx, err)
		}
		if err := c.add(blob); err != nil {
			return fmt.Errorf("ndb: %w", err)
		}
	}
	return nil
}

// ndbBlob checks the blob in blk, a slot's blocks, and returns its header.
func ndbBlob(blk []byte, idx uint32) ([]byte, error) {
	le := binary.LittleEndian
	if len(blk) < ndbBlobHead+ndbBlobTail {
		return nil, fmt.Errorf("%d bytes, too short for a blob", len(blk))
	}
	if m := le.Uint32(blk); m != ndbHeadMagic {
		return nil, fmt.Errorf("bad blob magic %#x", m)
	}
	if i := le.Uint32(blk[4:]); i != idx {
		return nil, fmt.Errorf("blob belongs to package %d", i)
	}
	n := uint64(le.Uint32(blk[12:]))
	if want := (ndbBlobHead + n + ndbBlobTail + ndbBlockSize - 1) / ndbBlockSize * ndbBlockSize; want != uint64(len(blk)) {
		return nil, fmt.Errorf("blob of %d bytes in %d bytes of blocks", n, len(blk))
	}
	tail := blk[len(blk)-ndbBlobTail:]
	if le.Uint32(tail[8:]) != ndbTailMagic || uint64(le.Uint32(tail[4:])) != n {
		return nil, fmt.Errorf("bad blob tail")
	}
	if sum := adler32.Checksum(blk[:len(blk)-ndbBlobTail]); sum != le.Uint32(tail) {
		return nil, fmt.Errorf("blob checksum %#x, want %#x: corrupt", sum, le.Uint32(tail))
	}
	return blk[ndbBlobHead : ndbBlobHead+n], nil
}
