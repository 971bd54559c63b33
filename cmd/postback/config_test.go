package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.DatabaseURL != "postback.db" || cfg.PublicURL != "http://localhost:8080" ||
		cfg.PlatformURLs["meta"] != "https://graph.facebook.com" || cfg.Retention != 90*24*time.Hour || cfg.RetryBackoff != 30*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	// Without POSTBACK_PUBLIC_URL the webhook URLs follow the listen port.
	if cfg, err = parseConfig([]string{"--addr", ":9000"}, env(), io.Discard); err != nil || cfg.PublicURL != "http://localhost:9000" {
		t.Errorf("public URL with POSTBACK_ADDR :9000 = %q, %v; want http://localhost:9000", cfg.PublicURL, err)
	}
	cfg, err = parseConfig([]string{"--addr", "127.0.0.1:9000", "-postback-public-url", "https://p.example.com/"},
		env("POSTBACK_ADDR", ":7000", "POSTBACK_META_URL", "http://127.0.0.1:1234/"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.PublicURL != "https://p.example.com" || cfg.PlatformURLs["meta"] != "http://127.0.0.1:1234" {
		t.Errorf("flags over environment = %+v", cfg)
	}
	bad := []struct {
		name     string
		env      []string
		variable string
	}{
		{"short key", []string{"POSTBACK_SECRET_KEY", "abc"}, "POSTBACK_SECRET_KEY"},
		{"url without scheme", []string{"POSTBACK_PUBLIC_URL", "postback.example.com"}, "POSTBACK_PUBLIC_URL"},
		{"platform url", []string{"POSTBACK_TIKTOK_URL", "ftp://x"}, "POSTBACK_TIKTOK_URL"},
		{"postgres without key", []string{"POSTBACK_DATABASE_URL", "postgres://u@h/db"}, "POSTBACK_SECRET_KEY"},
		{"log level", []string{"POSTBACK_LOG_LEVEL", "loud"}, "POSTBACK_LOG_LEVEL"},
		{"retention", []string{"POSTBACK_RETENTION", "forever"}, "POSTBACK_RETENTION"},
		{"backoff", []string{"POSTBACK_RETRY_BACKOFF", "-1s"}, "POSTBACK_RETRY_BACKOFF"},
		{"send timeout platform", []string{"POSTBACK_SEND_TIMEOUTS", "myspace=3s"}, "POSTBACK_SEND_TIMEOUTS"},
		{"send timeout duration", []string{"POSTBACK_SEND_TIMEOUTS", "meta=0s"}, "POSTBACK_SEND_TIMEOUTS"},
		{"empty addr", []string{"POSTBACK_ADDR", " "}, "POSTBACK_ADDR"},
		{"proxy", []string{"POSTBACK_TRUSTED_PROXIES", "10.0.0.0/8, example.com"}, "POSTBACK_TRUSTED_PROXIES"},
		{"memory limit", []string{"POSTBACK_MEMORY_LIMIT", "lots"}, "POSTBACK_MEMORY_LIMIT"},
		{"memory limit too small", []string{"POSTBACK_MEMORY_LIMIT", "1MiB"}, "POSTBACK_MEMORY_LIMIT"},
		{"inflight bytes", []string{"POSTBACK_WEBHOOK_INFLIGHT_BYTES", "-5"}, "POSTBACK_WEBHOOK_INFLIGHT_BYTES"},
		{"short API token", []string{"POSTBACK_API_TOKEN", "0123456789abcdef0123456789abcde"}, "POSTBACK_API_TOKEN"},
		{"short metrics token", []string{"POSTBACK_METRICS_TOKEN", "short"}, "POSTBACK_METRICS_TOKEN"},
		{"session idle", []string{"POSTBACK_SESSION_IDLE_TIMEOUT", "0"}, "POSTBACK_SESSION_IDLE_TIMEOUT"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(nil, env(tt.env...), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.variable+":") || strings.Contains(err.Error(), "\n") {
				t.Errorf("env %v: err = %v, want one line starting with %s", tt.env, err, tt.variable)
			}
		})
	}
	limits := []struct {
		env             []string
		limit, inflight int64
	}{
		{nil, 256 << 20, 64 << 20},
		{[]string{"GOMEMLIMIT", "1GiB"}, 0, 64 << 20},
		{[]string{"GOMEMLIMIT", "1GiB", "POSTBACK_MEMORY_LIMIT", "512MiB"}, 512 << 20, 64 << 20},
		{[]string{"POSTBACK_MEMORY_LIMIT", "off", "POSTBACK_WEBHOOK_INFLIGHT_BYTES", "16MB"}, math.MaxInt64, 16e6},
		{[]string{"POSTBACK_MEMORY_LIMIT", "1073741824"}, 1 << 30, 64 << 20},
	}
	for _, tt := range limits {
		cfg, err := parseConfig(nil, env(tt.env...), io.Discard)
		if err != nil || cfg.MemoryLimit != tt.limit || cfg.WebhookInflightBytes != tt.inflight {
			t.Errorf("env %v: limit %d, inflight %d, err %v; want %d, %d", tt.env, cfg.MemoryLimit, cfg.WebhookInflightBytes, err, tt.limit, tt.inflight)
		}
	}
	if cfg, err := parseConfig(nil, env("POSTBACK_API_TOKEN", "0123456789abcdef0123456789abcdef"), io.Discard); err != nil || cfg.SessionIdle != 12*time.Hour {
		t.Errorf("32-character API token: %v; session idle %v, want 12h", err, cfg.SessionIdle)
	}
	key := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := parseConfig(nil, env("POSTBACK_SECRET_KEY", key, "POSTBACK_DATABASE_URL", "postgres://u@h/db"), io.Discard); err != nil {
		t.Errorf("hex key with postgres: %v", err)
	}
}

// TestUsageAndErrorsHideSecrets runs the program with secrets in the
// environment and checks that neither -h, a mistyped flag nor a bad
// value prints them.
func TestUsageAndErrorsHideSecrets(t *testing.T) {
	secrets := map[string]string{
		"POSTBACK_SECRET_KEY":     "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=",
		"POSTBACK_API_TOKEN":      "api-token-0123456789abcdef0123456789",
		"POSTBACK_ADMIN_PASSWORD": "admin-password-do-not-print",
		"POSTBACK_METRICS_TOKEN":  "metrics-token-0123456789abcdef01234",
		"POSTBACK_DATABASE_URL":   "postgres://postback:db-password-do-not-print@127.0.0.1:1/postback",
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"-h", []string{"-h"}, nil},
		{"--help", []string{"serve", "--help"}, nil},
		{"--bogus", []string{"--bogus"}, nil},
		{"token create --bogus", []string{"token", "create", "ci", "--bogus"}, nil},
		{"bad key", nil, map[string]string{"POSTBACK_SECRET_KEY": "not-a-key-but-secret-still"}},
		{"short API token", nil, map[string]string{"POSTBACK_API_TOKEN": "short-but-secret"}},
		// Nothing listens on port 1: the driver's error must not carry
		// the URL's password.
		{"unreachable database", []string{"migrate"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range secrets {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var out, errOut strings.Builder
			err := run(t.Context(), tt.args, func(k string) string { return env[k] }, &out, &errOut)
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			all := out.String() + errOut.String() + err.Error()
			t.Logf("error: %v", err)
			if tt.name == "-h" && !strings.Contains(all, "POSTBACK_API_TOKEN") {
				t.Errorf("-h shows no usage: %q", all)
			}
			for k, v := range env {
				if strings.Contains(all, v) || (k == "POSTBACK_DATABASE_URL" && strings.Contains(all, "db-password")) {
					t.Errorf("output shows %s:\n%s", k, all)
				}
			}
		})
	}
}
