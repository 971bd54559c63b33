package main

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// osThreads reads and sets Linux threads' nice values (setpriority(2)
// with PRIO_PROCESS and a thread id applies to that thread alone).
var osThreads = threadPriority{
	self: syscall.Gettid,
	nice: func(tid int) (int, error) {
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		return 20 - p, err // the system call answers 20 - nice
	},
	setNice: func(tid, nice int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice) },
	// sched_setattr(2) with SCHED_FLAG_RESET_ON_FORK: "if the calling
	// thread has a negative nice value, the nice value for the child is
	// reset to zero" (sched(7), read 2026-12-03).
	raise: func(tid, nice int) error {
		return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL, Flags: unix.SCHED_FLAG_RESET_ON_FORK, Nice: int32(nice)}, 0)
	},
	threads: func() ([]int, error) {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return nil, err
		}
		tids := make([]int, 0, len(ents))
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				tids = append(tids, tid)
			}
		}
		return tids, nil
	},
}
