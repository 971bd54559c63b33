package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSQLite takes an exclusive lock on a file beside the SQLite database:
// one process owns a SQLite database, so a second postback on the same file
// is refused instead of sending every delivery twice. The lock dies with
// the process, kill -9 included.
func lockSQLite(dbPath string) (release func(), err error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("POSTBACK_DATABASE_URL: lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("POSTBACK_DATABASE_URL: another postback process is using %s; run several replicas on PostgreSQL", dbPath)
		}
		return nil, fmt.Errorf("POSTBACK_DATABASE_URL: lock %s: %v", path, err)
	}
	return func() { f.Close() }, nil
}
