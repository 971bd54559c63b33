package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the postback binary: with
// POSTBACK_TEST_CHILD set it runs main, so a test can start the real
// program as a separate process and kill -9 it.
func TestMain(m *testing.M) {
	if os.Getenv("POSTBACK_TEST_CHILD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type child struct {
	cmd *exec.Cmd
	url string
	log *syncBuffer
}

func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POSTBACK_TEST_CHILD=1", "POSTBACK_ADDR="+addr, "POSTBACK_API_TOKEN="+testAPIToken, "POSTBACK_LOG_LEVEL=warn")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &child{cmd: cmd, url: "http://" + addr, log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = io.Discard, c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(c.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("child did not come up:\n%s", c.log)
	return nil
}

func (c *child) instance() *instance { return &instance{url: c.url} }

// TestKill9LosesNothingAcknowledged answers webhooks, kills the process
// with SIGKILL while its sends hang at the platform, and restarts it: every
// event that was answered 200 reaches Meta, exactly once.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the service as a child process")
	}
	dbPath := filepath.Join(t.TempDir(), "postback.db")
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer hung.Close()
	defer close(release)

	first := startChild(t, map[string]string{"POSTBACK_DATABASE_URL": dbPath, "POSTBACK_META_URL": hung.URL})
	meta := newFakeMeta(t)
	path := setup(t, first.instance(), meta)
	const orders = 40
	base := fixture(t, "orders_paid.json")
	for i := 0; i < orders; i++ {
		body := bytes.Replace(base, []byte(`"id":6318840291389`), []byte(fmt.Sprintf(`"id":%d`, 7000000000000+i)), 1)
		code, out := post(t, first.instance(), path, "orders/paid", fmt.Sprint("evt-", i), body, shopSecret)
		if code != 200 || out["status"] != "accepted" {
			t.Fatalf("order %d: %d %v", i, code, out)
		}
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startChild(t, map[string]string{"POSTBACK_DATABASE_URL": dbPath, "POSTBACK_META_URL": meta.srv.URL})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(meta.received()) < orders {
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, ev := range meta.received() {
		seen[fmt.Sprint(ev["event_id"])]++
	}
	if len(seen) != orders {
		t.Fatalf("Meta received %d distinct orders after the restart, want %d\n%s", len(seen), orders, second.log)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("order %s sent %d times", id, n)
		}
	}
	if !strings.Contains(second.log.String(), "took over deliveries") {
		t.Errorf("the restarted process did not take over the leased deliveries; log:\n%s", second.log)
	}
	// A second process on the same SQLite file is refused.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POSTBACK_TEST_CHILD=1", "POSTBACK_ADDR="+freeAddr(t), "POSTBACK_DATABASE_URL="+dbPath)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another postback process") {
		t.Errorf("second process on one SQLite file: err %v, output %s", err, out)
	}
}
