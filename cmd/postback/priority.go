package main

import (
	"context"
	"log/slog"
	"time"
)

// On SQLite one thread writes every webhook (group commit), and under load
// it is the bottleneck: measured on the 2-core host (2026-12-03), the
// writer was busy 98% of the time yet on the CPU for less than half of it;
// the rest it waited for a core behind the HTTP handlers, the load
// generator and the garbage collector (fsyncs were about a fifth). So the
// writer's thread gets the CPU first:
//
//   - where the process may raise a thread's priority (root, or
//     CAP_SYS_NICE), the writer's thread runs writerNiceBoost steps above
//     the process's nice value;
//   - otherwise every other thread of the process runs othersNiceDrop
//     steps below it (a process may always lower its own priority), swept
//     every prioritySweep for threads the Go runtime started since.
//
// Either way the writer does the same work; it waits less for a core.
// With postback-load (32 senders, 4.4 KB orders, back to back) ingest went
// from 2,843–3,731 to 4,089–4,513 webhooks/s with the writer raised, and
// 3,522–4,043 to 3,789–4,598 with the others lowered.
// POSTBACK_WRITER_PRIORITY=off leaves scheduling to the operating system.
const (
	writerNiceBoost = 10
	othersNiceDrop  = 5
	prioritySweep   = 5 * time.Second
)

// threadPriority is the operating system's side of writerPriority, faked in
// tests: nice values per thread id.
type threadPriority struct {
	self func() int
	nice func(tid int) (int, error)
	// setNice lowers a thread's priority (threads it starts inherit it).
	setNice func(tid, nice int) error
	// raise raises a thread's priority; threads it starts later begin
	// at the default priority (the Go runtime starts its worker threads
	// from whichever thread needs one, the writer's too).
	raise   func(tid, nice int) error
	threads func() ([]int, error)
}

// writerPriority returns the committer's OnWriterThread hook (nil when
// off or unsupported). Lowering the other threads goes on until ctx ends.
func writerPriority(ctx context.Context, mode string, sys threadPriority, log *slog.Logger) func() {
	if mode == "off" || sys.self == nil {
		return nil
	}
	return func() {
		writer := sys.self()
		base, err := sys.nice(writer)
		if err != nil {
			log.Info("writer priority: cannot read the writer thread's priority; left to the OS", slog.String("error", err.Error()))
			return
		}
		if err := sys.raise(writer, base-writerNiceBoost); err == nil {
			log.Info("writer priority: the SQLite writer thread runs at a higher priority", slog.Int("nice", base-writerNiceBoost))
			return
		}
		log.Info("writer priority: no privilege to raise the SQLite writer thread (CAP_SYS_NICE); lowering the other threads instead",
			slog.Int("nice", base+othersNiceDrop))
		go func() {
			for {
				lowerOthers(sys, writer, base+othersNiceDrop)
				select {
				case <-ctx.Done():
					return
				case <-time.After(prioritySweep):
				}
			}
		}()
	}
}

// lowerOthers sets nice on every thread but the writer that runs at a
// higher priority; threads that end meanwhile are skipped.
func lowerOthers(sys threadPriority, writer, nice int) {
	tids, err := sys.threads()
	if err != nil {
		return
	}
	for _, tid := range tids {
		if tid == writer {
			continue
		}
		if cur, err := sys.nice(tid); err == nil && cur < nice {
			_ = sys.setNice(tid, nice) // the thread may have ended
		}
	}
}
