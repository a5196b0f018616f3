// Command etcd runs the etcd server for Palisade's integration tests and lab.
// It lives in its own module so that etcd's dependencies never enter
// Palisade's go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
