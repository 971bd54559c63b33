package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/postbackhq/postback/store"
)

// setupURLFileName is the first-run setup link's file beside the SQLite
// database (or in the working directory with PostgreSQL).
const setupURLFileName = "postback.setup-url"

// setupFilePath is where the setup link is written.
func setupFilePath(cfg Config) string {
	if cfg.SetupURLFile != "" {
		return cfg.SetupURLFile
	}
	if store.DialectOf(cfg.DatabaseURL) == store.Postgres {
		return setupURLFileName
	}
	if p := store.SQLitePath(cfg.DatabaseURL); p != "" {
		return filepath.Join(filepath.Dir(p), setupURLFileName)
	}
	return "" // in-memory database: the log line only
}

// offerSetup makes a one-time setup token when no user exists (and
// POSTBACK_ADMIN_PASSWORD made none): its link is logged once and written
// to a 0600 file for operators without access to the log. Only the
// token's hash is stored, in the database, so the link works on every
// replica. It returns the file's path ("" when none was written).
func offerSetup(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (string, error) {
	path := setupFilePath(cfg)
	n, err := st.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("POSTBACK_DATABASE_URL: %v", err)
	}
	if n > 0 {
		removeSetupFile(path, log)
		return "", nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	// A SQLite database belongs to this process alone: older links die.
	// Replicas on PostgreSQL each add theirs; any of them works.
	if err := st.AddSetupToken(ctx, token, st.Dialect() == store.SQLite, time.Now()); err != nil {
		return "", fmt.Errorf("POSTBACK_DATABASE_URL: store setup token: %v", err)
	}
	link := cfg.PublicURL + "/admin/setup?token=" + token
	attrs := []any{slog.String("url", link)}
	if path != "" {
		if err := writeSetupFile(path, link); err != nil {
			log.Warn("cannot write the setup link file; use the link in this log", slog.String("path", path), slog.String("error", err.Error()))
			path = ""
		} else {
			attrs = append(attrs, slog.String("file", path))
		}
	}
	log.Warn("no admin account yet: open this one-time link to create it (or set POSTBACK_ADMIN_PASSWORD)", attrs...)
	return path, nil
}

// writeSetupFile writes the link to a fresh file only the owner can read.
func writeSetupFile(path, link string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(link + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func removeSetupFile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("remove the used setup link file", slog.String("path", path), slog.String("error", err.Error()))
	}
}

// sweepSessions deletes expired and idle sessions every ten minutes.
func sweepSessions(ctx context.Context, st *store.Store, idle time.Duration, log *slog.Logger) {
	tick := time.NewTicker(10 * time.Minute)
	defer tick.Stop()
	for {
		now := time.Now()
		if n, err := st.DeleteExpiredSessions(ctx, now, now.Add(-idle)); err != nil {
			if ctx.Err() == nil {
				log.Warn("sweep expired sessions", slog.String("error", err.Error()))
			}
		} else if n > 0 {
			log.Debug("swept expired sessions", slog.Int64("sessions", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// resetPassword sets a user's password, read twice from the terminal
// without echo, or once (a line) from piped stdin, and ends the user's
// sessions.
func resetPassword(ctx context.Context, st *store.Store, name string, stdin io.Reader, stdout, stderr io.Writer) error {
	password, err := readPassword(name, stdin, stderr)
	if err != nil {
		return err
	}
	if len(password) < 8 || len(password) > 72 {
		return errors.New("the password must be 8 to 72 bytes")
	}
	if err := st.SetPassword(ctx, name, password, ""); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		}
		return err
	}
	fmt.Fprintf(stdout, "password of %s reset; its sessions were ended\n", name)
	return nil
}

func readPassword(name string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "New password for %s: ", name)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin (pipe it in, or run in a terminal to be asked)")
	}
	return line, nil
}
