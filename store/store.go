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
	"strings"
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
	db      *gorm.DB
	rdb     *gorm.DB
	sealer  *Sealer
	log     *slog.Logger
	closers []*sql.DB
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
		// gorm's logger prints SQL with its arguments, which carry customer
		// data: keep it silent and log errors where they are handled.
		Logger: logger.Discard,
	}
	s := &Store{dialect: DialectOf(dsn), sealer: sealer, log: log}
	switch s.dialect {
	case Postgres:
		db, err := gorm.Open(postgres.Open(dsn), cfg)
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
		s.db, s.rdb = db, db
		s.closers = append(s.closers, sqlDB)
	default:
		w, err := openSQLite(dsn, cfg, 1, false)
		if err != nil {
			return nil, err
		}
		s.db = w
		sqlW, _ := w.DB()
		s.closers = append(s.closers, sqlW)
		if SQLitePath(dsn) == "" {
			// An in-memory database exists per connection: share the writer.
			s.rdb = w
		} else {
			r, err := openSQLite(dsn, cfg, 4, true)
			if err != nil {
				s.Close()
				return nil, err
			}
			s.rdb = r
			sqlR, _ := r.DB()
			s.closers = append(s.closers, sqlR)
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens a pool on a SQLite file with the pragmas Postback
// relies on: WAL so readers never block the writer, a busy timeout instead
// of SQLITE_BUSY errors, foreign keys (off by default in SQLite), full
// synchronous commits so an acknowledged webhook survives power loss, and
// BEGIN IMMEDIATE so a write transaction takes the lock up front.
func openSQLite(dsn string, cfg *gorm.Config, conns int, readOnly bool) (*gorm.DB, error) {
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
	if readOnly {
		q.Set("_query_only", "on")
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
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Migrate applies every pending migration from migrations.FS. On
// PostgreSQL it holds an advisory lock, so replicas starting together
// migrate once.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
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
