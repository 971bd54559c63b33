package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeThreads is a process's threads and their nice values; raising a
// priority (a lower nice) fails unless privileged, as on Linux.
type fakeThreads struct {
	mu         sync.Mutex
	nice       map[int]int
	privileged bool
	gone       map[int]bool // threads that end before they are set
}

func (f *fakeThreads) sys(self int) threadPriority {
	return threadPriority{
		self: func() int { return self },
		nice: func(tid int) (int, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			n, ok := f.nice[tid]
			if !ok {
				return 0, errors.New("no such thread")
			}
			return n, nil
		},
		setNice: f.set,
		raise:   f.set,
		threads: func() ([]int, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			var tids []int
			for tid := range f.nice {
				tids = append(tids, tid)
			}
			return tids, nil
		},
	}
}

func (f *fakeThreads) set(tid, nice int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[tid] {
		return errors.New("no such thread")
	}
	if nice < f.nice[tid] && !f.privileged {
		return errors.New("permission denied")
	}
	f.nice[tid] = nice
	return nil
}

func (f *fakeThreads) get(tid int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nice[tid]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestWriterPriority(t *testing.T) {
	const writer = 10
	tests := []struct {
		name       string
		mode       string
		privileged bool
		want       map[int]int // nice per thread afterwards
	}{
		{"raised where permitted", "auto", true, map[int]int{writer: 2 - writerNiceBoost, 11: 2, 12: 2, 13: 9, 14: 2}},
		{"others lowered otherwise", "auto", false, map[int]int{writer: 2, 11: 2 + othersNiceDrop, 12: 2 + othersNiceDrop, 13: 9, 14: 2}},
		{"off", "off", true, map[int]int{writer: 2, 11: 2, 12: 2, 13: 9, 14: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Thread 13 already runs lower than the drop; 14 ends mid-sweep.
			f := &fakeThreads{nice: map[int]int{writer: 2, 11: 2, 12: 2, 13: 9, 14: 2}, privileged: tt.privileged, gone: map[int]bool{14: true}}
			hook := writerPriority(ctx, tt.mode, f.sys(writer), quiet)
			if tt.mode == "off" {
				if hook != nil {
					t.Fatal("POSTBACK_WRITER_PRIORITY=off still returned a hook")
				}
				return
			}
			hook()
			deadline := time.Now().Add(5 * time.Second)
			for {
				ok := true
				for tid, want := range tt.want {
					ok = ok && f.get(tid) == want
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("nice values = %v, want %v", f.nice, tt.want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestLowerOthersCatchesNewThreads: each sweep lowers threads started
// since the last, and never the writer.
func TestLowerOthersCatchesNewThreads(t *testing.T) {
	f := &fakeThreads{nice: map[int]int{1: 0, 2: 0}}
	lowerOthers(f.sys(1), 1, 5)
	f.mu.Lock()
	f.nice[3] = 0 // a thread the runtime started from the writer's
	f.mu.Unlock()
	lowerOthers(f.sys(1), 1, 5)
	if f.get(1) != 0 || f.get(2) != 5 || f.get(3) != 5 {
		t.Fatalf("after two sweeps: %v; want the writer (1) at 0, threads 2 and 3 at 5", f.nice)
	}
}

// TestWriterPriorityOnThisOS runs the hook on a real thread: its nice
// value moves (up where this test may raise it, else the others' down).
func TestWriterPriorityOnThisOS(t *testing.T) {
	if osThreads.self == nil {
		t.Skip("thread priorities are Linux-only")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := writerPriority(ctx, "auto", osThreads, quiet)
	type result struct {
		tid, before, after int
		raised             bool
		err                error
	}
	done := make(chan result)
	go func() {
		// Exiting while locked ends the thread, so its priority does not
		// outlive the test.
		runtime.LockOSThread()
		tid := osThreads.self()
		before, err := osThreads.nice(tid)
		if err != nil {
			done <- result{err: err}
			return
		}
		// Whether this process may raise a thread's priority.
		raised := osThreads.setNice(tid, before-1) == nil
		if raised {
			_ = osThreads.setNice(tid, before)
		}
		hook()
		after, err := osThreads.nice(tid)
		done <- result{tid, before, after, raised, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.raised {
		if r.after != r.before-writerNiceBoost {
			t.Fatalf("writer thread nice %d → %d, want %d", r.before, r.after, r.before-writerNiceBoost)
		}
		return
	}
	// Unprivileged: the writer keeps its value and the others go down.
	if r.after != r.before {
		t.Fatalf("writer thread nice %d → %d, want it unchanged", r.before, r.after)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tids, err := osThreads.threads()
		if err != nil {
			t.Fatal(err)
		}
		lowered := 0
		for _, tid := range tids {
			if n, err := osThreads.nice(tid); err == nil && tid != r.tid && n >= r.before+othersNiceDrop {
				lowered++
			}
		}
		if lowered > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no other thread lowered to nice %d", r.before+othersNiceDrop)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
