package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestRotateKeyChild is the process TestRotateKeyKilled kills: it rotates
// one row at a time and, after a few, says so and waits to be killed
// inside the open transaction.
func TestRotateKeyChild(t *testing.T) {
	if os.Getenv("POSTBACK_TEST_ROTATE_CHILD") != "1" {
		t.Skip("run by TestRotateKeyKilled")
	}
	old, _ := store.ParseKey(os.Getenv("TEST_OLD_KEY"))
	newKey, _ := store.ParseKey(os.Getenv("TEST_NEW_KEY"))
	st := storetest.OpenKey(t, os.Getenv("TEST_DSN"), newKey)
	oldSealer, err := store.NewSealer(old)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.RotateKey(context.Background(), oldSealer, store.RotateOptions{BatchSize: 1, AfterBatch: func(done int) error {
		if done == 3 {
			fmt.Println("PAUSED")
			time.Sleep(time.Minute)
		}
		return nil
	}})
	t.Fatalf("child was not killed: %v", err)
}

// TestRotateKeyKilled runs rotate-key in a child process on each database,
// kills it with SIGKILL between batches, then runs `postback rotate-key`
// again: every secret ends up under the new key, none lost.
func TestRotateKeyKilled(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			oldKey, newKey := storetest.NewKey(t), storetest.NewKey(t)
			seeded := storetest.OpenKey(t, dsn, oldKey)
			for i := range 4 {
				sh, err := seeded.CreateShop(ctx, store.Shop{Name: fmt.Sprintf("s%d", i), Source: mapping.SourceShopify,
					SigningSecret: fmt.Sprintf("shpss_%d", i), Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := seeded.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
					Credentials: map[string]string{"access_token": fmt.Sprintf("tok%d", i)}}, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			enc := base64.StdEncoding.EncodeToString
			cmd := exec.Command(os.Args[0], "-test.run=^TestRotateKeyChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "POSTBACK_TEST_ROTATE_CHILD=1", "TEST_DSN="+dsn,
				"TEST_OLD_KEY="+enc(oldKey), "TEST_NEW_KEY="+enc(newKey))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			paused := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "PAUSED") {
						paused <- true
						return
					}
				}
				paused <- false
			}()
			select {
			case ok := <-paused:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("child ended before pausing:\n%s", stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("child did not pause")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			// Killed inside the transaction: nothing changed.
			shops, err := seeded.Shops(ctx)
			if err != nil || len(shops) != 4 {
				t.Fatalf("after the kill: %d shops, %v", len(shops), err)
			}
			for _, sh := range shops {
				if sh.SealError != "" {
					t.Errorf("after the kill, shop %d under the old key: %s", sh.ID, sh.SealError)
				}
			}

			env := map[string]string{
				"POSTBACK_DATABASE_URL": dsn, "POSTBACK_SECRET_KEY": enc(newKey), oldKeyEnv: enc(oldKey), "POSTBACK_LOG_LEVEL": "warn",
			}
			var stdout, logs bytes.Buffer
			if err := run(ctx, []string{"rotate-key"}, func(k string) string { return env[k] }, &stdout, &logs); err != nil {
				t.Fatalf("rotate-key after the kill: %v\n%s", err, logs.String())
			}
			if !strings.Contains(stdout.String(), "re-encrypted 8 stored secrets") {
				t.Errorf("rotate-key said %q, want 8 re-encrypted", stdout.String())
			}
			if strings.Contains(logs.String()+stdout.String(), enc(oldKey)) || strings.Contains(logs.String()+stdout.String(), "shpss_") {
				t.Error("rotate-key printed a key or a secret")
			}
			rotated := storetest.OpenKey(t, dsn, newKey)
			shops, err = rotated.Shops(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, sh := range shops {
				ds, err := rotated.Destinations(ctx, sh.ID)
				if sh.SigningSecret != fmt.Sprintf("shpss_%d", i) || err != nil || len(ds) != 1 || ds[0].Credentials["access_token"] != fmt.Sprintf("tok%d", i) {
					t.Errorf("shop %d after rotation: secret %q (%s), destinations %+v %v", sh.ID, sh.SigningSecret, sh.SealError, ds, err)
				}
			}
			// Without the old key the command says which variable is missing.
			delete(env, oldKeyEnv)
			if err := run(ctx, []string{"rotate-key"}, func(k string) string { return env[k] }, &stdout, &logs); err == nil || !strings.HasPrefix(err.Error(), oldKeyEnv) {
				t.Errorf("rotate-key without %s: %v", oldKeyEnv, err)
			}
		})
	}
}
