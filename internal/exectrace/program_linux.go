package exectrace

import "github.com/cilium/ebpf/asm"

// Stack slots of the program (below the frame pointer R10).
const (
	slotPtr      = -8  // a kernel pointer read by probe_read_kernel
	slotArgStart = -16 // mm->arg_start
	slotArgEnd   = -24 // mm->arg_end
	slotKey      = -32 // key 0 of the lost counter; the pid for the sequence
	slotSeq      = -40 // the first sequence number of a pid
)

// program is the exec program: for the raw tracepoint sched_process_exec
// (args: struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) it
// reserves a record in the ring buffer, fills it from helpers and from the
// task's structures, and submits it. When the buffer is full it counts the
// exec in the lost array instead. Registers: R6 the context, R7 the record,
// R8 the task, R9 scratch pointers.
func program(o offsets, events, lost, seqs int) asm.Instructions {
	// readKernel copies size bytes at src+off (src a register holding a
	// kernel pointer) to dst+dstOff.
	readKernel := func(dst asm.Register, dstOff int32, size int32, src asm.Register, off int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, dst), asm.Add.Imm(asm.R1, dstOff),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Reg(asm.R3, src), asm.Add.Imm(asm.R3, off),
			asm.FnProbeReadKernel.Call(),
		}
	}
	// follow loads the pointer at src+off into R9 (0 when unreadable:
	// probe_read_kernel zeroes its destination on failure).
	follow := func(src asm.Register, off int32) asm.Instructions {
		return append(readKernel(asm.R10, slotPtr, 8, src, off), asm.LoadMem(asm.R9, asm.R10, slotPtr, asm.DWord))
	}
	var p asm.Instructions
	add := func(ins ...asm.Instruction) { p = append(p, ins...) }
	addAll := func(ins asm.Instructions) { p = append(p, ins...) }

	add(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapPtr(asm.R1, events),
		asm.Mov.Imm(asm.R2, recordSize),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "full"),
		asm.Mov.Reg(asm.R7, asm.R0),

		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R7, offKtime, asm.R0, asm.DWord),
		asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.R7, offTid, asm.R0, asm.Word),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.R7, offTgid, asm.R0, asm.Word),

		// The pid's exec count: seqs[tgid] += 1, or 1 for a pid not seen.
		asm.StoreMem(asm.R10, slotKey, asm.R0, asm.Word),
		asm.LoadMapPtr(asm.R1, seqs),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "firstexec"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.StoreMem(asm.R7, offSeq, asm.R1, asm.DWord),
		asm.Ja.Label("counted"),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("firstexec"),
		asm.StoreMem(asm.R10, slotSeq, asm.R1, asm.DWord),
		asm.StoreMem(asm.R7, offSeq, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, seqs),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, slotKey),
		asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, slotSeq),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("counted"),
		asm.FnGetCurrentUidGid.Call(),
		asm.StoreMem(asm.R7, offUID, asm.R0, asm.Word),
		asm.FnGetCurrentCgroupId.Call(),
		asm.StoreMem(asm.R7, offCgroupID, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, offComm),
		asm.Mov.Imm(asm.R2, commLen),
		asm.FnGetCurrentComm.Call(),

		asm.LoadMem(asm.R8, asm.R6, 0, asm.DWord), // args[0]: the task
	)
	addAll(readKernel(asm.R7, offStart, 8, asm.R8, o.taskStartBoottime))
	// The parent's thread group ID: task->real_parent->tgid.
	addAll(follow(asm.R8, o.taskRealParent))
	addAll(readKernel(asm.R7, offPPID, 4, asm.R9, o.taskTgid))
	// The cgroup's name: task->cgroups->dfl_cgrp->kn->name.
	addAll(follow(asm.R8, o.taskCgroups))
	addAll(follow(asm.R9, o.cssetDflCgrp))
	addAll(follow(asm.R9, o.cgroupKn))
	addAll(follow(asm.R9, o.kernfsName))
	add(
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, offCgroup),
		asm.Mov.Imm(asm.R2, maxCgroup),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.FnProbeReadKernelStr.Call(),
	)
	// The executed path: bprm->filename (args[2]: the binprm).
	add(asm.LoadMem(asm.R9, asm.R6, 16, asm.DWord))
	addAll(follow(asm.R9, o.binprmFilename))
	add(
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, offFilename),
		asm.Mov.Imm(asm.R2, MaxFilename),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.FnProbeReadKernelStr.Call(),
	)
	// The arguments, already on the new program's stack: the user memory
	// between task->mm->arg_start and arg_end.
	addAll(follow(asm.R8, o.taskMM))
	addAll(readKernel(asm.R10, slotArgStart, 8, asm.R9, o.mmArgStart))
	addAll(readKernel(asm.R10, slotArgEnd, 8, asm.R9, o.mmArgEnd))
	add(
		asm.LoadMem(asm.R2, asm.R10, slotArgEnd, asm.DWord),
		asm.LoadMem(asm.R3, asm.R10, slotArgStart, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R3),
		asm.StoreMem(asm.R7, offArgsLen, asm.R2, asm.DWord),
		asm.JLE.Imm(asm.R2, MaxArgs, "copy"),
		asm.Mov.Imm(asm.R2, MaxArgs),
		asm.JEq.Imm(asm.R2, 0, "submit").WithSymbol("copy"),
		asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, offArgs),
		asm.FnProbeReadUser.Call(),

		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("submit"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Ja.Label("exit"),

		// The ring buffer is full: count the exec.
		asm.Mov.Imm(asm.R1, 0).WithSymbol("full"),
		asm.StoreMem(asm.R10, slotKey, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, lost),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),

		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	)
	return p
}
