//go:build !linux

package main

// osThreads: thread priorities are Linux-only here; elsewhere the writer
// is left to the operating system.
var osThreads = threadPriority{}
