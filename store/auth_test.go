package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

func TestSetupTokenCreatesTheFirstUserOnce(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Two replicas started with no user: both tokens are valid.
			if err := s.AddSetupToken(ctx, "token-of-replica-a", false, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.AddSetupToken(ctx, "token-of-replica-b", false, t0); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{"token-of-replica-a", "token-of-replica-b"} {
				if ok, err := s.SetupTokenValid(ctx, tok); err != nil || !ok {
					t.Errorf("SetupTokenValid(%q) = %v, %v, want true", tok, ok, err)
				}
			}
			for _, tok := range []string{"", "token-of-replica-c", "token-of-replica-a "} {
				if ok, err := s.SetupTokenValid(ctx, tok); err != nil || ok {
					t.Errorf("SetupTokenValid(%q) = %v, %v, want false", tok, ok, err)
				}
			}
			if _, err := s.CreateFirstUser(ctx, "wrong", "intruder", "longenough", t0); !errors.Is(err, store.ErrSetupToken) {
				t.Fatalf("CreateFirstUser with a wrong token: %v, want ErrSetupToken", err)
			}
			if ok, _ := s.SetupTokenValid(ctx, "token-of-replica-a"); !ok {
				t.Fatal("a refused setup consumed the tokens")
			}
			// Concurrent setups with each replica's token: exactly one wins.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, tok := range []string{"token-of-replica-a", "token-of-replica-b"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.CreateFirstUser(ctx, tok, "owner"+tok[len(tok)-1:], "longenough", t0)
				}()
			}
			wg.Wait()
			if n, _ := s.CountUsers(ctx); n != 1 {
				t.Errorf("%d users after two concurrent setups (errors %v), want 1", n, errs)
			}
			for _, tok := range []string{"token-of-replica-a", "token-of-replica-b"} {
				if ok, _ := s.SetupTokenValid(ctx, tok); ok {
					t.Errorf("token %q still valid after the first user", tok)
				}
			}
		})
	}
}

func TestCreateUserKillsSetupTokens(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	if err := s.AddSetupToken(ctx, "old", false, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSetupToken(ctx, "new", true, t0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SetupTokenValid(ctx, "old"); ok {
		t.Error("replace kept the older token")
	}
	if _, err := s.CreateUser(ctx, "admin", "longenough", t0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SetupTokenValid(ctx, "new"); ok {
		t.Error("setup token valid after a user was created")
	}
	if _, err := s.CreateUser(ctx, "admin", "longenough", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second admin: %v, want ErrConflict", err)
	}
}

// TestAuthenticateGivesNoUserNameOracle checks that unknown users and
// over-long passwords get the same answer after the same bcrypt work as a
// known user with a wrong password.
func TestAuthenticateGivesNoUserNameOracle(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "admin", "correct horse battery", t0); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 100)
	timed := func(user, password string) time.Duration {
		start := time.Now()
		_, err := s.Authenticate(ctx, user, password)
		d := time.Since(start)
		if !errors.Is(err, store.ErrBadPassword) {
			t.Errorf("Authenticate(%q, %d bytes) = %v, want ErrBadPassword", user, len(password), err)
		}
		return d
	}
	// The fastest of three, so a busy machine does not raise the bar.
	known := min(timed("admin", "wrong password"), timed("admin", "wrong password"), timed("admin", "wrong password"))
	for _, tt := range []struct{ user, password string }{
		{"admin", long}, {"nobody", long}, {"nobody", "wrong password"},
		{"admin", "correct horse battery" + strings.Repeat("!", 60)},
	} {
		// bcrypt at the default cost takes tens of milliseconds; a path
		// that skips it takes microseconds. A quarter leaves room for noise.
		d := timed(tt.user, tt.password)
		t.Logf("Authenticate(%q, %d bytes): %v (known user, wrong password: %v)", tt.user, len(tt.password), d, known)
		if d < known/4 {
			t.Errorf("Authenticate(%q, %d bytes) took %v, a known user %v: it skips the bcrypt work", tt.user, len(tt.password), d, known)
		}
	}
	if _, err := s.Authenticate(ctx, "admin", "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
}

func TestSessionsIdleLogoutEverywhereAndSweep(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u, err := s.CreateUser(ctx, "admin", "longenough", t0)
			if err != nil {
				t.Fatal(err)
			}
			a, _, err := s.CreateSession(ctx, u.ID, 7*24*time.Hour, t0)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.CreateSession(ctx, u.ID, time.Hour, t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.TouchSession(ctx, a, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			sess, err := s.SessionByToken(ctx, a, t0.Add(2*time.Hour))
			if err != nil || !sess.LastSeenAt.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("SessionByToken after touch = %+v, %v, want last seen at +2h", sess, err)
			}
			// b expired at +1h; a was seen at +2h and is idle since
			// before +1h only if the cutoff is later than +2h.
			n, err := s.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour), t0.Add(time.Hour))
			if err != nil || n != 1 {
				t.Errorf("DeleteExpiredSessions = %d, %v, want 1 (the expired one)", n, err)
			}
			n, err = s.DeleteExpiredSessions(ctx, t0.Add(3*time.Hour), t0.Add(3*time.Hour))
			if err != nil || n != 1 {
				t.Errorf("DeleteExpiredSessions of the idle one = %d, %v, want 1", n, err)
			}
			c, _, _ := s.CreateSession(ctx, u.ID, time.Hour, t0)
			d, _, _ := s.CreateSession(ctx, u.ID, time.Hour, t0)
			if err := s.SetPassword(ctx, "admin", "new password!", c); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SessionByToken(ctx, c, t0); err != nil {
				t.Errorf("the session that changed the password ended: %v", err)
			}
			if _, err := s.SessionByToken(ctx, d, t0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another session survived a password change: %v", err)
			}
			if _, err := s.Authenticate(ctx, "admin", "new password!"); err != nil {
				t.Errorf("new password: %v", err)
			}
			if err := s.DeleteUserSessions(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SessionByToken(ctx, c, t0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session survived log out everywhere: %v", err)
			}
			if err := s.SetPassword(ctx, "nobody", "whatever1", ""); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SetPassword of an unknown user: %v, want ErrNotFound", err)
			}
		})
	}
}
