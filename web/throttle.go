package web

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Log-in throttling. Counts are per process: with several replicas each
// counts its own, so the effective limits are these times the replicas.
const (
	// A (user, address) pair may fail 5 times, then once per 3 minutes:
	// 5 per 15 minutes.
	pairBurst = 5
	pairEvery = 3 * time.Minute
	// An address may fail 20 times over every user name, then once per
	// 45 seconds: 20 per 15 minutes.
	addrBurst = 20
	addrEvery = 45 * time.Second
	// A user name may be tried 20 times from all addresses, then once per
	// 30 seconds. Past that, addresses that have failed recently are
	// refused; an address that has not failed is only slowed, by at most
	// userMaxDelay, so nobody can lock the operator out.
	userBurst    = 20
	userEvery    = 30 * time.Second
	userMaxDelay = 3 * time.Second
	// limiterKeys bounds each limiter's memory: past it the least recently
	// used keys are forgotten.
	limiterKeys = 10_000
	// maxKeyLen caps a user name before it becomes a key; longer names
	// cannot exist (usernamePattern).
	maxKeyLen = 64
	// API bearer failures: 10 per address, then one per 6 seconds.
	apiBurst = 10
	apiEvery = 6 * time.Second
)

// keyedLimiters keeps one token bucket per key, at most limiterKeys of
// them.
type keyedLimiters struct {
	mu    sync.Mutex
	cache *lru.Cache[string, *rate.Limiter]
	limit rate.Limit
	burst int
}

func newKeyedLimiters(every time.Duration, burst int) *keyedLimiters {
	// lru.New fails only for a size below 1.
	cache, _ := lru.New[string, *rate.Limiter](limiterKeys)
	return &keyedLimiters{cache: cache, limit: rate.Every(every), burst: burst}
}

// get returns the key's bucket, creating a full one.
func (k *keyedLimiters) get(key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l, ok := k.cache.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(k.limit, k.burst)
	k.cache.Add(key, l)
	return l
}

// full reports whether the key's bucket is full: nothing was taken from
// it lately (an unknown key is full).
func (k *keyedLimiters) full(key string, now time.Time) bool {
	k.mu.Lock()
	l, ok := k.cache.Peek(key)
	k.mu.Unlock()
	return !ok || l.TokensAt(now) >= float64(k.burst)
}

func (k *keyedLimiters) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cache.Remove(key)
}

// reserve takes a token now, or says how long until one is free (taking
// nothing).
func reserve(l *rate.Limiter, now time.Time) (*rate.Reservation, time.Duration) {
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	return r, 0
}

// addrKey is the limiter key of a client address: IPv4 as is, IPv6 by its
// /64, which one subscriber usually holds whole.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return truncate(ip, maxKeyLen)
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// userKey is the limiter key of a user name.
func userKey(name string) string {
	return truncate(strings.ToLower(name), maxKeyLen)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// loginGuard throttles log-ins per (user, address), per address and per
// user; see the constants above.
type loginGuard struct {
	pair, addr, user *keyedLimiters
	maxDelay         time.Duration
}

func newLoginGuard() *loginGuard {
	return &loginGuard{
		pair:     newKeyedLimiters(pairEvery, pairBurst),
		addr:     newKeyedLimiters(addrEvery, addrBurst),
		user:     newKeyedLimiters(userEvery, userBurst),
		maxDelay: userMaxDelay,
	}
}

// loginAttempt is one admitted attempt: its reservations, kept on a
// failure and handed back on success.
type loginAttempt struct {
	g *loginGuard
	// at is when it was admitted: reservations are handed back as of
	// then (rate.Reservation.CancelAt restores nothing for a later time).
	at       time.Time
	pairKey  string
	addr     *rate.Reservation
	user     *rate.Reservation
	delay    time.Duration
	released bool
}

// admit counts an attempt before the password is checked, so parallel
// guesses cannot slip past the count. It refuses (with the time to wait)
// when the pair or the address is at its limit, or when the user name is
// and this address has failed lately; otherwise the attempt may have to
// wait Delay first.
func (g *loginGuard) admit(now time.Time, username, ip string) (*loginAttempt, time.Duration, bool) {
	u, a := userKey(username), addrKey(ip)
	pairKey := u + "\x00" + a
	clean := g.addr.full(a, now)
	rPair, wait := reserve(g.pair.get(pairKey), now)
	if rPair == nil {
		return nil, wait, false
	}
	rAddr, wait := reserve(g.addr.get(a), now)
	if rAddr == nil {
		rPair.CancelAt(now)
		return nil, wait, false
	}
	att := &loginAttempt{g: g, at: now, pairKey: pairKey, addr: rAddr}
	rUser := g.user.get(u).ReserveN(now, 1)
	if d := rUser.DelayFrom(now); d > 0 {
		if !clean {
			rUser.CancelAt(now)
			rAddr.CancelAt(now)
			rPair.CancelAt(now)
			return nil, d, false
		}
		if d > g.maxDelay {
			// Do not queue ever further into the future: wait the most
			// and take nothing from the user's bucket.
			rUser.CancelAt(now)
			rUser, d = nil, g.maxDelay
		}
		att.delay = d
	}
	att.user = rUser
	return att, 0, true
}

// wait sleeps the attempt's delay, if any.
func (a *loginAttempt) wait(ctx context.Context) error {
	if a.delay <= 0 {
		return nil
	}
	t := time.NewTimer(a.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// succeeded forgets the pair's failures and hands back the attempt.
func (a *loginAttempt) succeeded() {
	a.g.pair.forget(a.pairKey)
	a.undo()
}

// undo hands the attempt back (it was not a guess: the check failed).
func (a *loginAttempt) undo() {
	if a.released {
		return
	}
	a.released = true
	a.addr.CancelAt(a.at)
	if a.user != nil {
		a.user.CancelAt(a.at)
	}
}

// errBusy is returned when bcrypt work waited too long for a slot.
var errBusy = errors.New("too many password checks at once")

// bcryptGate bounds concurrent password hashing, so a flood of log-ins
// cannot take the CPU that webhooks need.
type bcryptGate struct {
	slots chan struct{}
	// maxWait is how long a check may queue before errBusy.
	maxWait time.Duration
}

// newBcryptGate allows n concurrent checks; n <= 0 means half the CPUs
// (at least one).
func newBcryptGate(n int) *bcryptGate {
	if n <= 0 {
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	return &bcryptGate{slots: make(chan struct{}, n), maxWait: 10 * time.Second}
}

// do runs fn once a slot is free.
func (g *bcryptGate) do(ctx context.Context, fn func() error) error {
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	return fn()
}

// apiGuard rate-limits failed bearer tokens per address.
type apiGuard struct{ addr *keyedLimiters }

func newAPIGuard() *apiGuard { return &apiGuard{addr: newKeyedLimiters(apiEvery, apiBurst)} }
