//go:build !linux

package procfs

import (
	"errors"
	"io"
	"os"
)

// readFile reads path into buf and returns the bytes read; truncated is
// set when the file holds more than len(buf) bytes. Only fake trees exist
// outside Linux.
func readFile(path string, buf []byte) (data []byte, truncated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], false, nil
	case err != nil:
		return nil, false, err
	}
	var one [1]byte
	m, err := f.Read(one[:])
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	return buf[:n], m > 0, nil
}

// readlink returns the target of the link at path.
func readlink(path string, _ []byte) ([]byte, error) {
	t, err := os.Readlink(path)
	return []byte(t), err
}
