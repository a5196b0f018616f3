package procfs

import (
	"os"
	"syscall"
)

// readFile reads path into buf and returns the bytes read; truncated is
// set when the file holds more than len(buf) bytes.
//
// It uses the system calls directly: os.Open would add a poller
// registration attempt and two fcntl calls to every one of the thousands
// of files a scan reads. A short read that ends a line (or a NUL-separated
// argument) is taken as the whole file, as /proc generates these files in
// one read: that saves the read that would return 0.
func readFile(path string, buf []byte) (data []byte, truncated bool, err error) {
	var fd int
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return nil, false, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m <= 0 {
			return buf[:n], false, nil
		}
		n += m
		if n < len(buf) && (buf[n-1] == '\n' || buf[n-1] == 0) {
			return buf[:n], false, nil
		}
	}
	var one [1]byte
	for {
		m, err := syscall.Read(fd, one[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, false, &os.PathError{Op: "read", Path: path, Err: err}
		}
		return buf[:n], m > 0, nil
	}
}

// readlink returns the target of the link at path, read into buf (a
// target that fills buf is reported as an error).
func readlink(path string, buf []byte) ([]byte, error) {
	for {
		n, err := syscall.Readlink(path, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readlink", Path: path, Err: err}
		}
		if n >= len(buf) {
			return nil, &os.PathError{Op: "readlink", Path: path, Err: syscall.ENAMETOOLONG}
		}
		return buf[:n], nil
	}
}
