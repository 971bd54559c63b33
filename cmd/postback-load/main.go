// Command postback-load measures Postback's two throughput paths on this
// machine: signed, distinct Shopify orders (about 4 KB each) posted over
// HTTP by concurrent senders, and the drain of the resulting deliveries to
// a local fake Meta Conversions API, which it serves itself.
//
//	go build -o /tmp/postback ./cmd/postback
//	go run ./cmd/postback-load -spawn /tmp/postback -n 20000 -c 32
//
// With -spawn it starts the given postback binary on a fresh SQLite file
// (pointing its Meta URL at the fake); without, it targets -target, which
// must have been started with POSTBACK_META_URL=http://<meta-addr> and
// POSTBACK_API_TOKEN=<token>.
//
// The fake Meta holds the first request until every webhook is in, so the
// drain is measured on its own: from release to the last event received.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed order.json
var orderTemplate string

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "postback-load:", err)
		os.Exit(1)
	}
}

type options struct {
	target, token, metaAddr, spawn string
	db, debugAddr                  string
	n, c, size, replicas           int
	eventBase                      int
	ceiling                        bool
	soak, timeout, storageWait     time.Duration
	// targets are the replicas' base URLs; senders take them in turn.
	targets []string
	// pids and dbPath of spawned replicas, for RSS and storage figures.
	pids   []int
	dbPath string
	// pgName is the spawned replicas' PostgreSQL database, whose backends'
	// CPU is reported.
	pgName string
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("postback-load", flag.ContinueOnError)
	fs.StringVar(&o.target, "target", "http://127.0.0.1:18080", "base URL of a running postback")
	fs.StringVar(&o.token, "token", "load-test-token-0123456789abcdef", "API token of the target (at least 32 characters)")
	fs.StringVar(&o.metaAddr, "meta-addr", "127.0.0.1:18999", "address for the fake Meta API")
	fs.StringVar(&o.spawn, "spawn", "", "postback binary to start on a fresh SQLite file (else use -target)")
	fs.IntVar(&o.n, "n", 20000, "webhooks to send")
	fs.IntVar(&o.c, "c", 32, "concurrent senders")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up on the drain after this long")
	fs.StringVar(&o.db, "db", "", "with -spawn: a postgres:// URL whose server gets a fresh database for the run (default: a fresh SQLite file)")
	fs.IntVar(&o.replicas, "replicas", 1, "with -spawn and -db postgres: replicas to start; senders take them round-robin")
	fs.IntVar(&o.size, "size", 0, "pad each order to about this many bytes (default: the 4.4 KB template)")
	fs.BoolVar(&o.ceiling, "ceiling", true, "also measure a bare group-commit durable insert of the same bodies, and print the ratio")
	fs.DurationVar(&o.soak, "soak", 0, "instead of -n webhooks, send for this long with deliveries flowing, sampling RSS every 5 s")
	fs.DurationVar(&o.storageWait, "storage-wait", 0, "after the drain, wait this long (for the compactor; see POSTBACK_COMPACT_AFTER) and measure storage again")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "with -spawn: POSTBACK_DEBUG_ADDR of the (first) spawned postback, for pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.replicas < 1 || (o.replicas > 1 && (o.spawn == "" || o.db == "")) {
		return errors.New("-replicas needs -spawn and -db postgres://…")
	}
	meta, err := startFakeMeta(o.metaAddr)
	if err != nil {
		return err
	}
	defer meta.close()
	if o.spawn != "" {
		stop, err := spawn(&o)
		if err != nil {
			return err
		}
		defer stop()
	}
	if len(o.targets) == 0 {
		o.targets = []string{o.target}
	}
	path, secret, err := setup(o)
	if err != nil {
		return err
	}
	if o.soak > 0 {
		return soak(o, out, meta, path, secret)
	}
	bodies := makeOrders(o.n, o.size)
	fmt.Fprintf(out, "ingest: %d signed Shopify orders of %d bytes, %d concurrent senders, %d replica(s)\n", o.n, len(bodies[0]), o.c, len(o.targets))
	cpu0, pg0, self0, host0 := o.cpu(), o.pgCPU(), procCPU("self"), readHostCPU()
	ing, err := ingest(o, path, secret, bodies)
	if err != nil {
		return err
	}
	cpu, pg1, self, host := o.cpu()-cpu0, o.pgCPU(), procCPU("self")-self0, readHostCPU().since(host0)
	rate := float64(ing.ok) / ing.elapsed.Seconds()
	fmt.Fprintf(out, "ingest: %d accepted, %d other answers in %v → %.0f webhooks/s; latency p50 %v p95 %v p99 %v max %v\n",
		ing.ok, ing.failed, ing.elapsed.Round(time.Millisecond), rate,
		ing.pct(50), ing.pct(95), ing.pct(99), ing.pct(100))
	if len(o.pids) > 0 && ing.ok > 0 {
		fmt.Fprintf(out, "ingest: server CPU %.0f µs per accepted webhook (user+system, all replicas)\n", cpu.Seconds()*1e6/float64(ing.ok))
	}
	if pg1 != nil && ing.ok > 0 {
		var ticks int64
		for pid, t := range pg1 {
			ticks += t - pg0[pid]
		}
		fmt.Fprintf(out, "ingest: PostgreSQL CPU %.0f µs per accepted webhook (backends of the run's database; WAL writer and checkpointer not counted)\n",
			float64(ticks)*1e4/float64(ing.ok))
	}
	if host.total > 0 && ing.ok > 0 {
		// Whether the run was bound by the CPU: with every core busy, a
		// second replica on the same machine can only take from the first.
		fmt.Fprintf(out, "ingest: host CPU %.0f%% busy across %d cores (steal %.0f%%); load generator %.0f µs per webhook\n",
			100*host.busy/host.total, runtime.NumCPU(), 100*host.steal/host.total, self.Seconds()*1e6/float64(ing.ok))
	}
	o.printRSS(out, "after ingest")
	cpu0 = o.cpu()
	drained, elapsed, err := meta.drain(o.n, o.timeout)
	if err != nil {
		return err
	}
	cpu = o.cpu() - cpu0
	fmt.Fprintf(out, "drain: %d conversions received by the fake Meta in %v → %.0f conversions/s (%d requests, largest batch %d)\n",
		drained, elapsed.Round(time.Millisecond), float64(drained)/elapsed.Seconds(), meta.requests.Load(), meta.maxBatch.Load())
	if len(o.pids) > 0 && drained > 0 {
		// Wall time on a shared host says as much about the neighbours;
		// CPU time per conversion drifts less.
		fmt.Fprintf(out, "drain: server CPU %.0f µs per conversion (user+system, all replicas, until the last one arrived)\n", cpu.Seconds()*1e6/float64(drained))
	}
	o.printRSS(out, "after drain")
	o.printStorage(out, "after drain")
	if o.storageWait > 0 {
		time.Sleep(o.storageWait)
		o.printStorage(out, fmt.Sprintf("%v later", o.storageWait))
	}
	if o.ceiling {
		dsn := o.db
		if dsn == "" || !strings.HasPrefix(dsn, "postgres") {
			dsn = "sqlite"
		}
		c, err := ceiling(dsn, o, bodies)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		crate := float64(c.ok) / c.elapsed.Seconds()
		db := map[bool]string{true: "postgresql", false: "sqlite"}[dsn != "sqlite"]
		fmt.Fprintf(out, "ceiling: the same bodies over HTTP from the same %d senders to a bare server that group-commits each into one table (%s): %.0f /s; latency p50 %v p99 %v\n",
			o.c, db, crate, c.pct(50), c.pct(99))
		sc, err := storageCeiling(dsn, o.c, 4*len(o.targets), bodies)
		if err != nil {
			return fmt.Errorf("storage ceiling: %w", err)
		}
		fmt.Fprintf(out, "storage floor (no HTTP, for reference): %.0f /s\n", float64(sc.ok)/sc.elapsed.Seconds())
		fmt.Fprintf(out, "ratio: ingest %.0f /s ÷ ceiling %.0f /s = %.2f\n", rate, crate, rate/crate)
	}
	return nil
}

// rss is a process's resident set in bytes, from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpu is the CPU time (user and system) the spawned replicas have used,
// from /proc/<pid>/stat in clock ticks (100 a second on Linux).
func (o options) cpu() time.Duration {
	var ticks int64
	for _, pid := range o.pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which ends with the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procCPU is a process's CPU time (user and system), from /proc/<pid>/stat
// ("self" for this one).
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) <= 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+sy) * 10 * time.Millisecond
}

// hostCPU is the machine's CPU time from /proc/stat's first line, in
// clock ticks: busy (everything but idle and iowait), steal (taken by the
// hypervisor for other guests), and the total.
type hostCPU struct{ busy, steal, total float64 }

func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return hostCPU{}
	}
	var h hostCPU
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		h.total += n
		switch i {
		case 3, 4:
		case 7:
			h.steal += n
		default:
			h.busy += n
		}
	}
	return h
}

func (h hostCPU) since(before hostCPU) hostCPU {
	return hostCPU{h.busy - before.busy, h.steal - before.steal, h.total - before.total}
}

// pgCPU is the CPU time, in clock ticks by pid, of the PostgreSQL backends
// connected to the spawned replicas' database (nil when there is none, or
// the server's processes cannot be read: a local server only).
func (o options) pgCPU() map[int]int64 {
	if o.pgName == "" {
		return nil
	}
	db, err := sql.Open("pgx", o.db)
	if err != nil {
		return nil
	}
	defer db.Close()
	rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, o.pgName)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return nil
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since, or not on this machine
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			out[pid] = u + s
		}
	}
	return out
}

func (o options) printRSS(out io.Writer, when string) {
	for i, pid := range o.pids {
		fmt.Fprintf(out, "rss %s: replica %d %.1f MB\n", when, i+1, float64(rss(pid))/1e6)
	}
}

// printStorage reports the SQLite database's pages in use (free pages,
// which new rows reuse, left out) per webhook sent, and the files' size.
func (o options) printStorage(out io.Writer, when string) {
	if o.dbPath == "" {
		return
	}
	var files int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(o.dbPath + suffix); err == nil {
			files += fi.Size()
		}
	}
	db, err := sql.Open("sqlite3", "file:"+o.dbPath+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		fmt.Fprintln(out, "storage:", err)
		return
	}
	defer db.Close()
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := db.QueryRow(q).Scan(v); err != nil {
			fmt.Fprintln(out, "storage:", err)
			return
		}
	}
	used := (pages - free) * size
	fmt.Fprintf(out, "storage %s: %.1f MB of pages in use, %.2f KB per webhook (files with WAL: %.1f MB)\n",
		when, float64(used)/1e6, float64(used)/1024/float64(o.n), float64(files)/1e6)
	var body, conv, compacted, payload, packed, attempts, apacked int64
	err = db.QueryRow(`SELECT COALESCE(SUM(LENGTH(body)),0), COALESCE(SUM(LENGTH(conversion)+LENGTH(match_info)),0), COALESCE(SUM(body_codec <> 0),0),
		(SELECT COALESCE(SUM(LENGTH(payload)+LENGTH(response)+LENGTH(match_info)),0) FROM deliveries), (SELECT COALESCE(SUM(LENGTH(packed)),0) FROM deliveries),
		(SELECT COALESCE(SUM(LENGTH(request)+LENGTH(response)),0) FROM delivery_attempts), (SELECT COALESCE(SUM(LENGTH(packed)),0) FROM delivery_attempts)
		FROM events`).Scan(&body, &conv, &compacted, &payload, &packed, &attempts, &apacked)
	if err == nil {
		per := func(v int64) float64 { return float64(v) / 1024 / float64(o.n) }
		fmt.Fprintf(out, "  per webhook, KB: body %.2f, conversion+match %.2f, delivery text %.2f + packed %.2f, attempt text %.2f + packed %.2f; %d events compacted\n",
			per(body), per(conv), per(payload), per(packed), per(attempts), per(apacked), compacted)
	}
}

// soak sends distinct orders for o.soak with the fake Meta answering at
// once, and samples the server's RSS every five seconds.
func soak(o options, out io.Writer, meta *fakeMeta, path, secret string) error {
	meta.once.Do(func() { close(meta.released) })
	stop := make(chan struct{})
	samples := make(chan string, 64)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for i := 5; ; i += 5 {
			select {
			case <-stop:
				close(samples)
				return
			case <-t.C:
				var parts []string
				for _, pid := range o.pids {
					parts = append(parts, fmt.Sprintf("%.1f MB", float64(rss(pid))/1e6))
				}
				samples <- fmt.Sprintf("soak t=%2ds: rss %s, delivered %d", i, strings.Join(parts, ", "), meta.events.Load())
			}
		}
	}()
	deadline := time.Now().Add(o.soak)
	var sent, okTotal int
	for batch := 0; time.Now().Before(deadline); batch++ {
		bodies := makeOrdersFrom(2000, o.size, 8100000000000+batch*2000)
		o2 := o
		o2.eventBase = batch * 2000
		ing, err := ingest(o2, path, secret, bodies)
		if err != nil {
			return err
		}
		sent += len(bodies)
		okTotal += ing.ok
	}
	close(stop)
	for s := range samples {
		fmt.Fprintln(out, s)
	}
	fmt.Fprintf(out, "soak: %d sent, %d accepted in %v (%.0f /s)\n", sent, okTotal, o.soak, float64(okTotal)/o.soak.Seconds())
	o.printRSS(out, "at end of soak")
	return nil
}

// spawn starts the postback binary (o.replicas of them on PostgreSQL) on
// a fresh database and waits for them.
func spawn(o *options) (func(), error) {
	dir, err := os.MkdirTemp("", "postback-load-")
	if err != nil {
		return nil, err
	}
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		os.RemoveAll(dir)
	}
	dbURL := filepath.Join(dir, "load.db")
	env := []string{"POSTBACK_API_TOKEN=" + o.token, "POSTBACK_META_URL=http://" + o.metaAddr, "POSTBACK_LOG_LEVEL=warn"}
	if os.Getenv("POSTBACK_SEND_TIMEOUTS") == "" {
		// The fake Meta holds requests until the ingest is over. With
		// Meta's own 1.5 s deadline they timed out, paused the destination
		// and were retried during the ingest (claims and outcomes written
		// meanwhile), and the drain began whenever that pause ended, not
		// when the fake let go: half the drain's time in some runs.
		env = append(env, "POSTBACK_SEND_TIMEOUTS=meta=10m")
	}
	if strings.HasPrefix(o.db, "postgres") {
		name, url, drop, err := createPostgresDB(o.db, "postback_load")
		if err != nil {
			return nil, err
		}
		stops = append(stops, drop)
		dbURL, o.pgName = url, name
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		env = append(env, "POSTBACK_SECRET_KEY="+hex.EncodeToString(key))
	} else {
		o.dbPath = dbURL
	}
	env = append(env, "POSTBACK_DATABASE_URL="+dbURL)
	for r := 0; r < o.replicas; r++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stopAll()
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		target := "http://" + addr
		cmd := exec.Command(o.spawn)
		cmd.Env = append(append(os.Environ(), env...), "POSTBACK_ADDR="+addr)
		if r == 0 && o.debugAddr != "" {
			cmd.Env = append(cmd.Env, "POSTBACK_DEBUG_ADDR="+o.debugAddr)
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, err
		}
		stops = append(stops, func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		})
		up := false
		for i := 0; i < 300 && !up; i++ {
			if resp, err := http.Get(target + "/healthz"); err == nil {
				resp.Body.Close()
				up = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !up {
			stopAll()
			return nil, errors.New("spawned postback did not come up")
		}
		o.targets = append(o.targets, target)
		o.pids = append(o.pids, cmd.Process.Pid)
	}
	o.target = o.targets[0]
	return stopAll, nil
}

// setup creates a Shopify shop with a Meta destination on the target.
func setup(o options) (path, secret string, err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(b)
	var shop struct {
		ID         int64  `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	if err := call(o, "POST", "/api/v1/shops", map[string]any{"name": "load test", "source": "shopify", "signing_secret": secret, "trigger": "paid"}, &shop); err != nil {
		return "", "", err
	}
	dest := map[string]any{"platform": "meta", "credentials": map[string]any{"pixel_id": "1234567890", "access_token": "load-token"}}
	if err := call(o, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID), dest, nil); err != nil {
		return "", "", err
	}
	i := strings.Index(shop.WebhookURL, "/webhooks/")
	if i < 0 {
		return "", "", fmt.Errorf("unexpected webhook URL %q", shop.WebhookURL)
	}
	return shop.WebhookURL[i:], secret, nil
}

func call(o options, method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, o.target+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// makeOrders renders n distinct paid orders from the template, dated
// today, padded to about size bytes with an order note.
func makeOrders(n, size int) [][]byte { return makeOrdersFrom(n, size, 8000000000000) }

func makeOrdersFrom(n, size, firstID int) [][]byte {
	day := time.Now().UTC().Add(-12 * time.Hour).Format("2006-01-02")
	tpl := strings.ReplaceAll(orderTemplate, "__DAY__", day)
	if pad := size - len(tpl); pad > 20 {
		// A note of ordinary words: compresses like a real order, unlike
		// random bytes, and unlike one repeated letter.
		words := []string{"please", "leave", "the", "parcel", "at", "side", "door", "gift", "wrap", "thanks", "ring", "bell", "twice"}
		var sb strings.Builder
		for i := 0; sb.Len() < pad-20; i++ {
			sb.WriteString(words[(i*7+i/13)%len(words)])
			sb.WriteByte(' ')
		}
		tpl = strings.Replace(tpl, `{"id":__ID__,`, `{"id":__ID__,"note":"`+sb.String()+`",`, 1)
	}
	out := make([][]byte, n)
	for i := range out {
		// Each order has its own customer and click: a distinct email,
		// phone and fbclid, as real traffic has, so the search index and
		// the phone parser see distinct values rather than one repeated.
		id := strconv.Itoa(firstID + i)
		last4 := fmt.Sprintf("%04d", (firstID+i)%10000)
		out[i] = []byte(strings.NewReplacer(
			"__ID__", id,
			"ava.example@example.com", "ava."+id+"@example.com",
			"555-0143", "555-"+last4,
			"+12175550143", "+1217555"+last4,
			"aem_AbExampleToken7fQ2", "aem_AbExampleToken7fQ2"+id,
		).Replace(tpl))
	}
	return out
}

type ingestResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
}

func (r ingestResult) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := (len(r.latencies) - 1) * p / 100
	return r.latencies[i].Round(10 * time.Microsecond)
}

// ingest posts every body once, signed, from o.c senders, and times each.
// Like wrk, each sender writes pre-rendered HTTP/1.1 requests on its own
// keep-alive connection and reads just enough of each answer: the
// generator shares the machine with the server, so it must cost little.
func ingest(o options, path, secret string, bodies [][]byte) (ingestResult, error) {
	var hosts []string
	for _, t := range o.targets {
		u, err := url.Parse(t)
		if err != nil {
			return ingestResult{}, err
		}
		hosts = append(hosts, u.Host)
	}
	reqs := make([][]byte, len(bodies))
	for i, b := range bodies {
		host := hosts[0] // Postback ignores Host; each sender dials its own replica
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(b)
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
			"X-Shopify-Topic: orders/paid\r\nX-Shopify-Hmac-Sha256: %s\r\nX-Shopify-Event-Id: load-%d\r\n"+
			"X-Shopify-Shop-Domain: load.myshopify.com\r\n\r\n", path, host, len(b), base64.StdEncoding.EncodeToString(m.Sum(nil)), o.eventBase+i)
		reqs[i] = append([]byte(head), b...)
	}
	var next atomic.Int64
	lat := make([][]time.Duration, o.c)
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var rd *bufio.Reader
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					break
				}
				if conn == nil {
					// Sender w keeps to replica w mod len(hosts).
					c, err := net.Dial("tcp", hosts[w%len(hosts)])
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					conn, rd = c, bufio.NewReaderSize(c, 4096)
				}
				t0 := time.Now()
				status, err := roundTrip(conn, rd, reqs[i])
				lat[w] = append(lat[w], time.Since(t0))
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					conn.Close()
					conn = nil
				case status == 200:
					ok.Add(1)
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", status))
				}
			}
			if conn != nil {
				conn.Close()
			}
		}()
	}
	wg.Wait()
	res := ingestResult{ok: int(ok.Load()), failed: int(failed.Load()), elapsed: time.Since(start)}
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "first failure: %v\n", e)
	}
	return res, nil
}

// roundTrip writes one request and reads its answer's status line, headers
// and Content-Length body.
func roundTrip(conn net.Conn, rd *bufio.Reader, req []byte) (int, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("answer without Content-Length")
	}
	if _, err := rd.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

// fakeMeta answers like Meta's Conversions API. It holds requests until
// released, so deliveries queue up during the ingest.
type fakeMeta struct {
	srv      *http.Server
	released chan struct{}
	once     sync.Once
	events   atomic.Int64
	requests atomic.Int64
	maxBatch atomic.Int64
	mu       sync.Mutex
	last     time.Time
}

func startFakeMeta(addr string) (*fakeMeta, error) {
	f := &fakeMeta{released: make(chan struct{})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake Meta on %s: %w", addr, err)
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *fakeMeta) serve(w http.ResponseWriter, r *http.Request) {
	<-f.released
	var req struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad body","code":100}}`, http.StatusBadRequest)
		return
	}
	n := int64(len(req.Data))
	f.requests.Add(1)
	for {
		m := f.maxBatch.Load()
		if n <= m || f.maxBatch.CompareAndSwap(m, n) {
			break
		}
	}
	f.events.Add(n)
	f.mu.Lock()
	f.last = time.Now()
	f.mu.Unlock()
	fmt.Fprintf(w, `{"events_received":%d,"messages":[],"fbtrace_id":"load"}`, n)
}

// drain releases the held requests and waits for want events.
func (f *fakeMeta) drain(want int, timeout time.Duration) (int, time.Duration, error) {
	start := time.Now()
	f.once.Do(func() { close(f.released) })
	deadline := start.Add(timeout)
	for f.events.Load() < int64(want) {
		if time.Now().After(deadline) {
			return int(f.events.Load()), time.Since(start), fmt.Errorf("drain: only %d of %d conversions arrived in %v", f.events.Load(), want, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	return int(f.events.Load()), last.Sub(start), nil
}

func (f *fakeMeta) close() {
	f.once.Do(func() { close(f.released) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
}
