package main

import (
	"os"
	"strconv"
	"syscall"
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
