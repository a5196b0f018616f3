package exectrace

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// offsets are the byte offsets, in this kernel's structures, of the fields
// the program reads.
type offsets struct {
	taskRealParent, taskTgid, taskStartBoottime, taskMM, taskCgroups int32
	mmArgStart, mmArgEnd                                             int32
	binprmFilename                                                   int32
	cssetDflCgrp, cgroupKn, kernfsName                               int32
}

// kernelOffsets reads the offsets from the running kernel's BTF.
func kernelOffsets() (offsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return offsets{}, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	return offsetsFrom(spec)
}

func offsetsFrom(spec *btf.Spec) (offsets, error) {
	var o offsets
	var errs []error
	field := func(typ, name string, dst *int32) {
		var s *btf.Struct
		if err := spec.TypeByName(typ, &s); err != nil {
			errs = append(errs, fmt.Errorf("struct %s: %w", typ, err))
			return
		}
		off, ok := memberOffset(s, name, 0)
		if !ok {
			errs = append(errs, fmt.Errorf("struct %s has no field %s", typ, name))
			return
		}
		*dst = int32(off)
	}
	field("task_struct", "real_parent", &o.taskRealParent)
	field("task_struct", "tgid", &o.taskTgid)
	field("task_struct", "start_boottime", &o.taskStartBoottime)
	field("task_struct", "mm", &o.taskMM)
	field("task_struct", "cgroups", &o.taskCgroups)
	field("mm_struct", "arg_start", &o.mmArgStart)
	field("mm_struct", "arg_end", &o.mmArgEnd)
	field("linux_binprm", "filename", &o.binprmFilename)
	field("css_set", "dfl_cgrp", &o.cssetDflCgrp)
	field("cgroup", "kn", &o.cgroupKn)
	field("kernfs_node", "name", &o.kernfsName)
	return o, errors.Join(errs...)
}

// memberOffset finds a field by name in a struct, looking into anonymous
// structs and unions (task_struct keeps most fields in one when its layout
// is randomised, mm_struct in another), and returns its byte offset.
func memberOffset(s btf.Type, name string, depth int) (uint32, bool) {
	if depth > 8 {
		return 0, false
	}
	var members []btf.Member
	switch t := btf.UnderlyingType(s).(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	default:
		return 0, false
	}
	for _, m := range members {
		if m.Name == name {
			if m.BitfieldSize != 0 || m.Offset%8 != 0 {
				return 0, false
			}
			return m.Offset.Bytes(), true
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		if off, ok := memberOffset(m.Type, name, depth+1); ok {
			return m.Offset.Bytes() + off, true
		}
	}
	return 0, false
}
