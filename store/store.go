// Package store keeps shops, destinations, events and deliveries in SQLite
// (the embedded default) or PostgreSQL (for several replicas), through gorm.
// Nothing outside this package sees gorm: methods take a context and speak
// the package's exported record types and mapping types.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/postbackhq/postback/migrations"
)

// Sentinel errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// gormDB is gorm's handle, named once so signatures stay short.
type gormDB = gorm.DB

// Dialect is the database behind a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the persistence layer.
type Store struct {
	dialect Dialect
	// db takes writes. On SQLite it is one connection, because SQLite has
	// one writer; a second pool (rdb) serves reads beside it under WAL.
	db     *gorm.DB
	rdb    *gorm.DB
	sealer *Sealer
	log    *slog.Logger
	// pool is the writer's *sql.DB, for migrations and pings.
	pool *sql.DB
	// wconn is SQLite's pinned writer connection, asked after a failure
	// whether a transaction is still open.
	wconn   *sql.Conn
	closers []func() error
	// ckpt runs SQLite's WAL checkpoints off the writer (nil in memory).
	ckpt *checkpointer
	// dcache holds enabled destinations per shop on SQLite (guarded by wmu).
	dcache destCache
	// wmu serializes writes on SQLite, where db is one pinned connection
	// and transactions are explicit BEGIN IMMEDIATE … COMMIT: that keeps
	// gorm's prepared statements alive across transactions (database/sql
	// re-prepares a statement in every *sql.Tx), which is most of what a
	// write costs.
	wmu sync.Mutex
	// wbusy is how long wmu has been held, ibusy how long the search
	// indexer's writes took of that (nanoseconds).
	wbusy, ibusy atomic.Int64
}

// DialectOf tells which database a POSTBACK_DATABASE_URL names: a
// postgres:// (or postgresql://) URL is PostgreSQL, anything else a SQLite
// path or file: URL.
func DialectOf(dsn string) Dialect {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// SQLitePath returns the file path of a SQLite DSN (for placing the key
// file beside it), or "" for an in-memory database.
func SQLitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == ":memory:" || p == "" {
		return ""
	}
	return p
}

// Open connects to the database named by dsn and checks that it answers.
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, sealer *Sealer, log *slog.Logger) (*Store, error) {
	if sealer == nil {
		return nil, errors.New("store needs a sealer for credentials")
	}
	cfg := &gorm.Config{
		// Our own transactions are explicit; gorm's implicit one per write
		// only costs a round trip.
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		// gorm keeps every statement it prepared (per connection, in C
		// memory) for a day unless bounded: statements with id lists of
		// varying length made the resident set grow for as long as the
		// process ran. Hot statements stay; the rest are closed.
		PrepareStmtMaxSize: maxPreparedStatements,
		// gorm's logger prints SQL with its arguments, which carry customer
		// data: keep it silent and log errors where they are handled.
		Logger: logger.Discard,
	}
	s := &Store{dialect: DialectOf(dsn), sealer: sealer, log: log}
	switch s.dialect {
	case Postgres:
		// pgx caches prepared statements per connection by itself (its
		// default exec mode). gorm's PrepareStmt on top made every
		// statement in a transaction cost three round trips: database/sql
		// prepares a DB-level statement afresh on the transaction's
		// connection, and closing it deallocates it on the server.
		pcfg := *cfg
		pcfg.PrepareStmt = false
		db, err := gorm.Open(postgres.Open(dsn), &pcfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(16)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		s.db, s.rdb, s.pool = db, db, sqlDB
		s.closers = append(s.closers, sqlDB.Close)
	default:
		if err := s.openSQLite(ctx, dsn, cfg); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens the writer (one pinned connection) and the readers.
func (s *Store) openSQLite(ctx context.Context, dsn string, cfg *gorm.Config) error {
	if path := SQLitePath(dsn); path != "" {
		if err := checkWritable(path); err != nil {
			return err
		}
	}
	if path := sqliteFilePath(dsn); path != "" {
		if err := prepareSQLiteFile(path, s.log); err != nil {
			return err
		}
	}
	// Two connections: one pinned for writes, one spare for migrations.
	w, err := openSQLitePool(dsn, cfg, 2, false)
	if err != nil {
		return err
	}
	pool, err := w.DB()
	if err != nil {
		return err
	}
	s.pool = pool
	s.closers = append(s.closers, pool.Close)
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	s.closers = append([]func() error{conn.Close}, s.closers...)
	s.wconn = conn
	pcfg := *cfg
	// gorm pings through a *sql.DB, which a pinned *sql.Conn is not; the
	// connection was just opened, and Ping uses the pool.
	pcfg.DisableAutomaticPing = true
	pinned, err := gorm.Open(sqlite.Dialector{Conn: conn}, &pcfg)
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	s.db = pinned
	for _, p := range writerPragmas {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("open sqlite: %s: %w", p, err)
		}
	}
	// SQLite's memory (page caches, statements) is C memory outside the
	// Go heap and its limit; each connection's cache fills up to its own
	// size over minutes of traffic. A process-wide soft limit makes them
	// one bounded pool: past it, SQLite reuses cached pages before it
	// allocates more.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA soft_heap_limit = %d", sqliteSoftHeapLimit)); err != nil {
		return fmt.Errorf("open sqlite: soft heap limit: %w", err)
	}
	if SQLitePath(dsn) == "" {
		// An in-memory database exists per connection: read on the writer.
		s.rdb = pinned
		return nil
	}
	r, err := openSQLitePool(dsn, cfg, 4, true)
	if err != nil {
		return err
	}
	s.rdb = r
	sqlR, err := r.DB()
	if err != nil {
		return err
	}
	s.closers = append(s.closers, sqlR.Close)
	s.ckpt = startCheckpointer(pool, s.log)
	// Stop before the pools close (closers run in order).
	s.closers = append([]func() error{s.ckpt.close}, s.closers...)
	return nil
}

// checkWritable says plainly why a SQLite file cannot be written, before
// the driver reports "unable to open database file: no such file or
// directory" for a file that exists on a read-only filesystem: SQLite
// needs to write the file and to create path-wal and path-shm beside it.
func checkWritable(path string) error {
	cause := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s of database file %s does not exist", dir, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case err == nil:
		f.Close()
	case errors.Is(err, fs.ErrNotExist):
		// Created below, if the directory is writable.
	default:
		return fmt.Errorf("database file %s is not writable: %v", path, cause(err))
	}
	probe, err := os.CreateTemp(dir, ".postback-write-check-*")
	if err != nil {
		return fmt.Errorf("directory %s of database file %s is not writable (SQLite creates its -wal and -shm files there): %v", dir, path, cause(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// sqliteSoftHeapLimit bounds SQLite's memory in the process, the page
// caches below (8 MiB + 4 × 2 MiB) and prepared statements: past it, a
// cache that would grow reuses its least recently used page instead.
const sqliteSoftHeapLimit = 16 << 20

// openSQLitePool opens a pool on a SQLite file with the pragmas Postback
// relies on: WAL so readers never block the writer, a busy timeout instead
// of SQLITE_BUSY errors, foreign keys (off by default in SQLite), full
// synchronous commits so an acknowledged webhook survives power loss, and
// BEGIN IMMEDIATE so a write transaction takes the lock up front.
func openSQLitePool(dsn string, cfg *gorm.Config, conns int, readOnly bool) (*gorm.DB, error) {
	path := strings.TrimPrefix(dsn, "file:")
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: bad query in %q: %w", dsn, err)
	}
	set := func(k, v string) {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	set("_journal_mode", "WAL")
	set("_busy_timeout", "10000")
	set("_foreign_keys", "on")
	set("_synchronous", "FULL")
	set("_txlock", "immediate")
	// Page caches are C memory outside the Go heap and the soft memory
	// limit, kept per connection: 64 MiB each (one writer, four readers)
	// made most of a 150 MB resident set. The writer's hot pages are the
	// index tails and the dedupe keys; 8 MiB holds them, and readers
	// mostly read recent rows (2 MiB each).
	if readOnly {
		set("_cache_size", "-2048")
		q.Set("_query_only", "on")
	} else {
		set("_cache_size", "-8192")
	}
	db, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
	sqlDB.SetConnMaxLifetime(0)
	return db, nil
}

// Dialect reports which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Migrate applies every pending migration from migrations.FS. On
// PostgreSQL it holds an advisory lock, so replicas starting together
// migrate once.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	sqlDB := s.pool
	dir, gd := "sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		dir, gd = "postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(gd, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]string, 0, len(res))
	for _, r := range res {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// write runs fn in a transaction. On SQLite it holds the writer lock and
// runs explicit BEGIN IMMEDIATE … COMMIT on the pinned connection.
func (s *Store) write(ctx context.Context, fn func(tx *gormDB) error) error {
	if s.dialect != SQLite {
		return s.db.WithContext(ctx).Transaction(fn)
	}
	s.wmu.Lock()
	defer s.unlockWriter(time.Now())
	db := s.db.WithContext(context.WithoutCancel(ctx))
	if err := db.Exec("BEGIN IMMEDIATE").Error; err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(db); err != nil {
		return s.rollback(ctx, db, err)
	}
	if err := db.Exec("COMMIT").Error; err != nil {
		return s.rollback(ctx, db, fmt.Errorf("commit: %w", err))
	}
	if s.ckpt != nil {
		s.ckpt.committed()
	}
	return nil
}

// rollback ends a SQLite transaction that failed with err. SQLite rolls a
// transaction back by itself after some errors (a full disk, an I/O
// error, or a COMMIT that failed that way); rolling back again would only
// add "cannot rollback - no transaction is active" to every error, so ask
// the connection first.
func (s *Store) rollback(ctx context.Context, db *gormDB, err error) error {
	if !s.inTx(ctx) {
		return err
	}
	if rerr := db.Exec("ROLLBACK").Error; rerr != nil {
		return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
	}
	return err
}

// inTx reports whether SQLite's writer connection has a transaction open
// (true when it cannot tell, so a rollback is tried).
func (s *Store) inTx(ctx context.Context) bool {
	if s.wconn == nil {
		return true
	}
	in := true
	if err := s.wconn.Raw(func(dc any) error {
		if c, ok := dc.(interface{ AutoCommit() bool }); ok {
			in = !c.AutoCommit()
		}
		return nil
	}); err != nil {
		s.log.DebugContext(ctx, "ask sqlite for its transaction state", slog.String("error", err.Error()))
	}
	return in
}

// exec runs one autocommitted statement (or a few) under the writer lock.
func (s *Store) exec(ctx context.Context, fn func(db *gormDB) error) error {
	if s.dialect != SQLite {
		return fn(s.db.WithContext(ctx))
	}
	s.wmu.Lock()
	defer s.unlockWriter(time.Now())
	err := fn(s.db.WithContext(context.WithoutCancel(ctx)))
	if s.ckpt != nil {
		s.ckpt.committed()
	}
	return err
}

// unlockWriter releases SQLite's writer, held since start.
func (s *Store) unlockWriter(start time.Time) {
	s.wbusy.Add(int64(time.Since(start)))
	s.wmu.Unlock()
}

// WriterBusyTime is how long SQLite's single writer has been held since
// the store opened by every kind of write but the search indexer's
// (webhooks, delivery outcomes, compaction…); 0 on PostgreSQL, whose
// writers are many. Sampled twice, it gives the share of the writer
// others took in between (see the search indexer's pacing).
func (s *Store) WriterBusyTime() time.Duration {
	return time.Duration(s.wbusy.Load() - s.ibusy.Load())
}

// rctx is the context for a read on the hot path. go-sqlite3 steps each
// row on a fresh goroutine when the context can be cancelled, which costs
// more than the step; SQLite reads are short, so they run uncancellable.
func (s *Store) rctx(ctx context.Context) context.Context {
	if s.dialect == SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// ms is a time as stored: unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// notFound turns gorm's not-found into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// ErrNotRedeliverable is returned for redelivering an event that is not an
// accepted conversion.
var ErrNotRedeliverable = errors.New("event cannot be redelivered")
