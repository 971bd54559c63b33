package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// sqliteFileMode is the mode of the database file. SQLite gives its -wal
// and -shm files the mode of the database file, so creating it 0600
// before SQLite does keeps all three private: they hold raw webhook
// bodies (customer data) and sealed credentials.
const sqliteFileMode = 0o600

// prepareSQLiteFile creates the database file with mode 0600 when it does
// not exist, and warns when an existing one (or its WAL) can be read by
// group or others.
func prepareSQLiteFile(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, sqliteFileMode)
	switch {
	case err == nil:
		// The umask may have cleared bits, never added any; chmod anyway
		// in case the file system ignores the create mode.
		if err := f.Chmod(sqliteFileMode); err != nil {
			f.Close()
			return fmt.Errorf("create sqlite file %s: %w", path, err)
		}
		return f.Close()
	case errors.Is(err, fs.ErrExist):
	default:
		return fmt.Errorf("create sqlite file %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			log.Warn("database file is readable by group or others; it holds customer data: chmod 600 it",
				slog.String("path", p), slog.String("mode", fmt.Sprintf("%#o", st.Mode().Perm())))
		}
	}
	return nil
}

// sqliteFilePath is the file a SQLite DSN creates, or "" for in-memory and
// read-only databases.
func sqliteFilePath(dsn string) string {
	if strings.Contains(dsn, "mode=memory") || strings.Contains(dsn, "mode=ro") {
		return ""
	}
	return SQLitePath(dsn)
}
