package main

import (
	"fmt"
	"log/slog"
	"os"
)

// checkKeyFileMode warns when the key file can be read by group or others:
// with it, anyone who can read the database can read every stored secret.
func checkKeyFileMode(path string, log *slog.Logger) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("the encryption key file is readable by group or others: chmod 600 it",
			slog.String("path", path), slog.String("mode", fmt.Sprintf("%#o", perm)))
	}
}
