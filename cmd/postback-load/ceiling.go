package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
)

// ceiling measures the floor cost of storing webhooks durably on this
// machine right now: the same bodies, from the same number of concurrent
// senders, group-committed into a bare table (id, body) on a fresh
// database with the same durability as Postback (SQLite WAL with
// synchronous=FULL; PostgreSQL as configured). No HTTP, no verification,
// no mapping, no dedupe. Postback's ingest rate divided by this is the
// share of the durable-write ceiling it reaches; unlike the rate itself,
// that ratio does not drift with the shared host's load.
func ceiling(dsn string, senders, workers int, bodies [][]byte) (ingestResult, error) {
	var db *sql.DB
	var err error
	var cleanup func()
	pg := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	if pg {
		db, cleanup, err = freshPostgres(dsn, "ceiling")
		if err != nil {
			return ingestResult{}, err
		}
		defer cleanup()
		if _, err := db.Exec(`CREATE TABLE ceiling (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)`); err != nil {
			return ingestResult{}, err
		}
		db.SetMaxOpenConns(workers)
	} else {
		dir, err := os.MkdirTemp("", "postback-ceiling-")
		if err != nil {
			return ingestResult{}, err
		}
		defer os.RemoveAll(dir)
		db, err = sql.Open("sqlite3", "file:"+filepath.Join(dir, "c.db")+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate")
		if err != nil {
			return ingestResult{}, err
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE ceiling (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
			return ingestResult{}, err
		}
		workers = 1
	}
	type req struct {
		body []byte
		done chan error
	}
	reqs := make(chan req, 256*workers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wwg sync.WaitGroup
	for range workers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			batch := make([]req, 0, 256)
			for {
				batch = batch[:0]
				select {
				case <-ctx.Done():
					return
				case r := <-reqs:
					batch = append(batch, r)
				}
			gather:
				for len(batch) < 256 {
					select {
					case r := <-reqs:
						batch = append(batch, r)
					default:
						break gather
					}
				}
				err := insertBodies(db, pg, batch, func(r req) []byte { return r.body })
				for _, r := range batch {
					r.done <- err
				}
			}
		}()
	}
	var next atomic.Int64
	lat := make([][]time.Duration, senders)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				reqs <- req{bodies[i], done}
				if err := <-done; err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "ceiling:", err)
				} else {
					ok.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res := ingestResult{ok: int(ok.Load()), failed: int(failed.Load()), elapsed: time.Since(start)}
	cancel()
	wwg.Wait()
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	return res, nil
}

// insertBodies inserts a batch in one transaction with multi-row INSERTs
// of fixed sizes, as Postback's committer does.
func insertBodies[T any](db *sql.DB, pg bool, batch []T, body func(T) []byte) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for start := 0; start < len(batch); {
		n := 1
		for _, size := range []int{128, 32, 8, 2, 1} {
			if len(batch)-start >= size {
				n = size
				break
			}
		}
		var sb strings.Builder
		sb.WriteString("INSERT INTO ceiling (body) VALUES ")
		args := make([]any, n)
		for i := range n {
			if i > 0 {
				sb.WriteString(", ")
			}
			if pg {
				fmt.Fprintf(&sb, "($%d)", i+1)
			} else {
				sb.WriteString("(?)")
			}
			args[i] = body(batch[start+i])
		}
		if _, err := tx.Exec(sb.String(), args...); err != nil {
			return err
		}
		start += n
	}
	return tx.Commit()
}

// freshPostgres creates a new database beside the one dsn names and
// returns a pool on it and a function that drops it.
func freshPostgres(dsn, prefix string) (*sql.DB, func(), error) {
	name, url, cleanup, err := createPostgresDB(dsn, prefix)
	if err != nil {
		return nil, nil, err
	}
	_ = name
	db, err := sql.Open("pgx", url)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return db, func() { db.Close(); cleanup() }, nil
}

// createPostgresDB creates database <prefix>_<pid>_<n> on dsn's server and
// returns its URL and a function that drops it.
func createPostgresDB(dsn, prefix string) (string, string, func(), error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", "", nil, err
	}
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	i := strings.LastIndexByte(dsn, '/')
	rest := ""
	if q := strings.IndexByte(dsn[i:], '?'); q >= 0 {
		rest = dsn[i+q:]
	}
	url := dsn[:i+1] + name + rest
	return name, url, func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}
