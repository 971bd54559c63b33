// Command postback serves Postback: store webhooks in, ad-platform
// conversions out.
//
//	postback [serve]   serve HTTP and deliver conversions (the default)
//	postback migrate   apply database migrations and exit
//	postback version   print the version and exit
//	postback token     create an API token and print it once
//	postback rotate-key  re-encrypt stored secrets under a new key
//	postback user reset-password NAME
//	                   set a user's password, read from the terminal or stdin
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// defaultGOGC is the collector's target when GOGC is not set (see runIO).
const defaultGOGC = 200

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runIO(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "postback:", err)
		os.Exit(1)
	}
}

// run is the whole program, with the operating system passed in so tests
// can start it; standard input is empty.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runIO(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runIO is run with standard input (for user reset-password).
func runIO(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "postback", version())
		return nil
	case "serve", "migrate", "token", "user", "rotate-key":
	case "help":
		fmt.Fprintln(stdout, "usage: postback [serve|migrate|version|token create NAME|user reset-password NAME|rotate-key] [flags]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (serve, migrate, version, token, user, rotate-key)", cmd)
	}
	var tokenName, userName string
	switch cmd {
	case "token":
		if len(args) < 2 || args[0] != "create" {
			return errors.New("usage: postback token create NAME")
		}
		tokenName, args = args[1], args[2:]
	case "user":
		// The password never comes from the arguments: they show in ps
		// and in shell history.
		if len(args) < 2 || args[0] != "reset-password" || strings.HasPrefix(args[1], "-") {
			return errors.New("usage: postback user reset-password NAME (the password is read from the terminal or stdin)")
		}
		userName, args = args[1], args[2:]
		for _, a := range args {
			if !strings.HasPrefix(a, "-") {
				return errors.New("usage: postback user reset-password NAME: the password is never taken from the arguments; pipe it in or type it when asked")
			}
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	// The collector runs half as often as Go's default (GOGC=200) unless
	// GOGC is set. The live heap is small (about 10 MB), so each cycle's
	// cost is mostly fixed, and once SQLite's writer stopped waiting for
	// the CPU (see priority.go) the collector was the next thing in its
	// way: measured with postback-load on the 2-core host (2026-12-03,
	// 4 alternating pairs), 4,684–4,793 → 4,907–5,320 webhooks/s and
	// 276–292 → 248–282 µs per webhook, for about 10 MB more resident
	// (60 s soak: 73 → 84 MB at 100, 79 → 87 MB at 200). The soft memory
	// limit above still bounds the heap.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	key, err := loadKey(cfg, log)
	if err != nil {
		return err
	}
	sealer, err := store.NewSealer(key)
	if err != nil {
		return fmt.Errorf("POSTBACK_SECRET_KEY: %v", err)
	}
	openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := store.Open(openCtx, cfg.DatabaseURL, sealer, log)
	if err != nil {
		return fmt.Errorf("POSTBACK_DATABASE_URL: %s", oneLine(err))
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("POSTBACK_DATABASE_URL: %s", oneLine(err))
	}
	for _, m := range applied {
		log.Info("applied migration", slog.String("migration", m))
	}
	switch cmd {
	case "migrate":
		fmt.Fprintf(stdout, "database is up to date (%d migrations applied now)\n", len(applied))
		return nil
	case "token":
		secret, _, err := st.CreateAPIToken(ctx, tokenName, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		return nil
	case "rotate-key":
		return rotateKey(ctx, cfg, st, getenv, stdout, log)
	case "user":
		return resetPassword(ctx, st, userName, stdin, stdout, stderr)
	}
	return serve(ctx, cfg, st, log)
}

// serve runs the HTTP server, the committer and the delivery worker until
// ctx ends, then shuts down in order: stop taking webhooks (answering
// those in flight), commit what was gathered, finish in-flight sends.
func serve(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) error {
	if st.Dialect() == store.SQLite {
		if path := store.SQLitePath(cfg.DatabaseURL); path != "" {
			release, err := lockSQLite(path)
			if err != nil {
				return err
			}
			defer release()
		}
		// This process owns the database: leases left by a process that
		// died are void.
		if n, err := st.ReleaseAllLeases(ctx); err != nil {
			return fmt.Errorf("POSTBACK_DATABASE_URL: %s", oneLine(err))
		} else if n > 0 {
			log.Warn("took over deliveries a stopped process was sending; they are sent again", slog.Int64("count", n))
		}
	}
	warnOtherKeys(ctx, st, log)
	if err := bootstrapAdmin(ctx, cfg, st, log); err != nil {
		return err
	}
	setupFile, err := offerSetup(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	reg.MustRegister(web.NewAccountedCollector(st, log))

	reg.MustRegister(web.NewVersionCollector(st, time.Now))
	httpClient := newHTTPClient()
	senders := newSenders(cfg, httpClient)
	routing := delivery.NewRouting(senders)
	worker := delivery.New(delivery.Config{
		Store: st, Senders: senders, Log: log, Metrics: m,
		Backoff: cfg.RetryBackoff, MaxBackoff: cfg.RetryMaxBackoff, SendTimeouts: cfg.SendTimeouts,
		Enrich: newEnricher(cfg, st, httpClient, log),
	})
	committer := st.NewCommitter(routing, store.CommitterConfig{OnCommit: worker.NotifyFor,
		OnWriterThread: writerPriority(ctx, cfg.WriterPriority, osThreads, log)})
	reconciler := newReconciler(cfg, st, routing, httpClient, worker.Notify, log)
	alerter := newAlerter(cfg, st, httpClient, log)

	rejections := st.NewRejections(log)

	srv := &http.Server{
		Handler: web.NewServer(web.Config{
			Store: st, Committer: committer, Connectors: newConnectors(), Senders: senders, Routing: routing,
			Log: log, Metrics: m, Gatherer: reg, PublicURL: cfg.PublicURL, APIToken: cfg.APIToken,
			Reconciler: reconciler, ReconcileEvery: cfg.ReconcileInterval, Webhooks: reconciler, Alerts: alerter, SMTPConfigured: cfg.SMTPURL != "",
			MaxInflightBytes: cfg.WebhookInflightBytes,
			Notify:           worker.Notify, Rejections: rejections, SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"), TrustedProxies: cfg.TrustedProxies,
			SessionIdle: cfg.SessionIdle, OnSetupDone: func() { removeSetupFile(setupFile, log) },
			MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "",
			BeaconHold: cfg.BeaconHold,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("POSTBACK_ADDR: %v", err)
	}
	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("POSTBACK_METRICS_ADDR: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", web.MetricsHandler(reg, cfg.MetricsToken))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		log.Info("serving metrics", slog.String("addr", mln.Addr().String()))
		go func() {
			if err := metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics listener stopped", slog.String("error", err.Error()))
			}
		}()
		defer metricsSrv.Close()
	}
	log.Info("postback serving", slog.String("addr", ln.Addr().String()), slog.String("database", string(st.Dialect())),
		slog.String("public_url", cfg.PublicURL), slog.String("version", version()))

	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); committer.Run(commitCtx) }()
	go func() {
		defer wg.Done()
		indexSearch(workCtx, st, newWriterLoad(func() bool { return committer.Busy(busyWindow) }, st.WriterBusyTime), log)
	}()
	go func() { defer wg.Done(); rejections.Run(workCtx, 5*time.Second) }()
	go func() {
		defer wg.Done()
		if err := worker.Run(workCtx); err != nil {
			log.Error("delivery worker stopped", slog.String("error", err.Error()))
		}
	}()
	if cfg.Retention > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); prune(workCtx, st, cfg.Retention, log) }()
	}
	// With POSTBACK_RECONCILE_INTERVAL=0 the loop still checks webhook
	// subscriptions hourly; only reconciliation waits to be asked.
	wg.Add(1)
	go func() { defer wg.Done(); reconciler.Loop(workCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); alerter.Loop(workCtx) }()

	if cfg.CompactAfter > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); compact(workCtx, st, cfg.CompactAfter, log) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); sweepSessions(workCtx, st, cfg.SessionIdle, log) }()
	wg.Add(1)
	go func() { defer wg.Done(); purgeBeacons(workCtx, st, log) }()
	wg.Add(1)
	go func() { defer wg.Done(); pollQuality(workCtx, st, senders, log) }()
	if cfg.DebugAddr != "" {
		go serveDebug(cfg.DebugAddr, log)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests and deliveries in flight")
	case err := <-serveErr:
		stopCommits()
		stopWork()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", slog.String("error", err.Error()))
	}
	stopCommits()
	stopWork()
	wg.Wait()
	log.Info("stopped")
	return nil
}

func bootstrapAdmin(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) error {
	if cfg.AdminPassword == "" {
		return nil
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("POSTBACK_DATABASE_URL: %v", err)
	}
	if n > 0 {
		return nil
	}
	if len(cfg.AdminPassword) < 8 {
		return errors.New("POSTBACK_ADMIN_PASSWORD: must be at least 8 characters")
	}
	if _, err := st.CreateUser(ctx, "admin", cfg.AdminPassword, time.Now()); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("create admin user: %w", err)
	}
	log.Info("created admin user from POSTBACK_ADMIN_PASSWORD", slog.String("user", "admin"))
	return nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// version is the module version, or the VCS revision of a source build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}

// oneLine folds a multi-line error (database drivers list every address
// they tried) into the single line a start-up failure prints.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// serveDebug serves pprof on its own listener, never on the public one.
func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving pprof", slog.String("addr", addr))
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("pprof listener stopped", slog.String("error", err.Error()))
	}
}

// prune deletes finished events older than the retention, hourly.
// compact walks every event once, oldest first, and compresses what the
// finished ones keep, lag after receipt (by then most deliveries are done
// and the rows are cold) (body, payloads, responses; see store.CompactEvents),
// in batches paced to take at most a third of its own time (compressing
// outside the write lock, writing inside it), so webhooks keep theirs. Events still waiting to be sent are looked at
// again later. It starts over from the oldest event on each start.
func compact(ctx context.Context, st *store.Store, lag time.Duration, log *slog.Logger) {
	const batch = 256
	var cursor int64
	var again []int64 // busy events, looked at again once the walk catches up
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if !pause(min(lag, 5*time.Second)) {
		return
	}
	for {
		ids, err := st.EventIDsAfter(ctx, cursor, time.Now().Add(-lag), batch)
		caughtUp := err == nil && len(ids) < batch
		if caughtUp && len(again) > 0 {
			n := min(len(again), batch-len(ids))
			ids, again = append(ids, again[:n]...), again[n:]
		}
		if err == nil && len(ids) > 0 {
			start := time.Now()
			var busy []int64
			_, busy, err = st.CompactEvents(ctx, ids)
			if err == nil {
				for _, id := range ids {
					cursor = max(cursor, id)
				}
				if len(again) < 100_000 {
					again = append(again, busy...)
				}
			}
			if !pause(max(2*time.Since(start), 20*time.Millisecond)) {
				return
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("compact finished events", slog.String("error", err.Error()))
			if !pause(time.Minute) {
				return
			}
			continue
		}
		if caughtUp && !pause(min(lag, 5*time.Second)) {
			return
		}
	}
}

func prune(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		var total int64
		for {
			n, err := st.Prune(ctx, time.Now().Add(-retention), 1000)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("prune old events", slog.String("error", err.Error()))
				}
				break
			}
			total += n
			if n < 1000 {
				break
			}
		}
		if total > 0 {
			log.Info("pruned finished events past the retention", slog.Int64("events", total), slog.Duration("retention", retention))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
