package app

import (
	"fmt"
	"os"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/api/resource"
)

// lazyGCPercent is the GOGC used under a memory limit: the limit bounds the
// heap, so collecting less often costs no memory beyond it and saves the
// CPU that bulk loads spend in the collector.
const lazyGCPercent = 200

// setMemoryLimit applies --memory-limit (a Kubernetes quantity such as
// 300Mi) as the Go runtime's soft memory limit. GOMEMLIMIT and GOGC in the
// environment win over it.
func setMemoryLimit(e *env, limit string) error {
	if limit == "" || os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	q, err := resource.ParseQuantity(limit)
	if err != nil || q.Value() <= 0 {
		return usageError("--memory-limit %q: want a size such as 300Mi or 1Gi", limit)
	}
	debug.SetMemoryLimit(q.Value())
	gc := "GOGC from the environment"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(lazyGCPercent)
		gc = fmt.Sprint(lazyGCPercent)
	}
	e.log.Info("memory limit set", "limit", fmt.Sprintf("%dMiB", q.Value()>>20), "gcPercent", gc)
	return nil
}
