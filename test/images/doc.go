// Package images holds the image tests (build tag `images`): they build real
// images — a Debian 12 root filesystem made by debootstrap
// (hack/build-test-images.sh caches it), a Go binary linked against old,
// vulnerable module versions — push them to an in-process OCI registry on
// loopback, scan them with `palisade scan`, and check the findings against
// the real advisory data in ../shared/vulndata, computed independently by
// brute force over every record with osv.Affects.
//
//	bash hack/build-test-images.sh
//	go test -count=1 -tags images ./test/images/...
package images
