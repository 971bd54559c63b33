package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
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

// bareStore group-commits bodies into a bare table (id, body) on a fresh
// database with the same durability as Postback (SQLite WAL with
// synchronous=FULL; PostgreSQL as configured): no verification, no
// mapping, no dedupe, no secondary index.
type bareStore struct {
	reqs   chan bareReq
	cancel context.CancelFunc
	wg     sync.WaitGroup
	close  func()
}

type bareReq struct {
	body []byte
	done chan error
}

func openBare(dsn string, workers int) (*bareStore, error) {
	var db *sql.DB
	var err error
	var cleanup func()
	pg := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	if pg {
		db, cleanup, err = freshPostgres(dsn, "ceiling")
		if err != nil {
			return nil, err
		}
		if _, err := db.Exec(`CREATE TABLE ceiling (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)`); err != nil {
			cleanup()
			return nil, err
		}
		db.SetMaxOpenConns(workers)
	} else {
		dir, err := os.MkdirTemp("", "postback-ceiling-")
		if err != nil {
			return nil, err
		}
		db, err = sql.Open("sqlite3", "file:"+filepath.Join(dir, "c.db")+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate")
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cleanup = func() { db.Close(); os.RemoveAll(dir) }
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE ceiling (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
			cleanup()
			return nil, err
		}
		workers = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bareStore{reqs: make(chan bareReq, 256*workers), cancel: cancel, close: cleanup}
	for range workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			batch := make([]bareReq, 0, 256)
			for {
				batch = batch[:0]
				select {
				case <-ctx.Done():
					return
				case r := <-b.reqs:
					batch = append(batch, r)
				}
			gather:
				for len(batch) < 256 {
					select {
					case r := <-b.reqs:
						batch = append(batch, r)
					default:
						break gather
					}
				}
				err := insertBodies(db, pg, batch, func(r bareReq) []byte { return r.body })
				for _, r := range batch {
					r.done <- err
				}
			}
		}()
	}
	return b, nil
}

func (b *bareStore) insert(body []byte, done chan error) error {
	b.reqs <- bareReq{body, done}
	return <-done
}

func (b *bareStore) shutdown() {
	b.cancel()
	b.wg.Wait()
	b.close()
}

// ceiling measures the floor cost of taking webhooks durably on this
// machine right now, through the same path as the ingest run up to the
// database: the same load generator posts the same bodies over HTTP/1.1
// keep-alive connections, from the same number of senders, to a bare Go
// HTTP server that reads each body and group-commits it into a bareStore
// before answering 200. Postback's ingest rate divided by this is the
// share of the machine's ceiling it reaches; unlike the rate itself, that
// ratio does not drift much with the shared host's load.
func ceiling(dsn string, o options, bodies [][]byte) (ingestResult, error) {
	workers := 4 * len(o.targets)
	b, err := openBare(dsn, workers)
	if err != nil {
		return ingestResult{}, err
	}
	defer b.shutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ingestResult{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 5<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := b.insert(body, make(chan error, 1)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	co := o
	co.targets = []string{"http://" + ln.Addr().String()}
	return ingest(co, "/webhooks/ceiling", "ceiling", bodies)
}

// storageCeiling is the same bare group-commit insert called directly from
// the senders' goroutines, without HTTP: the database's own floor cost.
func storageCeiling(dsn string, senders, workers int, bodies [][]byte) (ingestResult, error) {
	b, err := openBare(dsn, workers)
	if err != nil {
		return ingestResult{}, err
	}
	defer b.shutdown()
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
				if err := b.insert(bodies[i], done); err != nil {
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
