package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// handleWebhook receives a store's webhook: read the limited raw body,
// verify it, map it, commit it, and only then answer 2xx.
func handleWebhook(cfg Config, shops *shopCache) gin.HandlerFunc {
	inflight := newBodyBudget(cfg.MaxInflightBytes)
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		start := time.Now()
		source := mapping.Source(c.Param("source"))
		conn, ok := cfg.Connectors[source]
		if !ok {
			jsonError(c, http.StatusNotFound, "unknown webhook source")
			return
		}
		shop, err := shops.get(ctx, c.Param("key"))
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && shop.Source != source):
			jsonError(c, http.StatusNotFound, "unknown webhook URL")
			return
		case err != nil:
			cfg.Log.ErrorContext(ctx, "look up shop", slog.String("error", err.Error()))
			jsonError(c, http.StatusServiceUnavailable, "temporarily unavailable; retry")
			return
		}
		buf, err := inflight.read(c, cfg.MaxBody)
		defer inflight.release(buf)
		if err != nil {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				jsonError(c, http.StatusRequestEntityTooLarge, "webhook body is over the size limit")
			case errors.Is(err, errInflightFull):
				c.Header("Retry-After", "1")
				jsonError(c, http.StatusServiceUnavailable, "too many webhooks in flight; retry")
			default:
				jsonError(c, http.StatusBadRequest, "could not read the webhook body")
			}
			return
		}
		body := buf.b
		h := c.Request.Header
		if p, ok := conn.(connectors.Pinger); ok && p.IsPing(h, body) {
			c.JSON(http.StatusOK, gin.H{"status": "ok"})
			return
		}
		if err := verify(conn, h, body, shop, cfg.Now()); err != nil {
			cfg.Metrics.SignatureFailures.WithLabelValues(string(source)).Inc()
			msg, reason := "invalid webhook signature", store.RejectBadSignature
			switch {
			case errors.Is(err, connectors.ErrTooOld):
				msg, reason = "webhook timestamp outside tolerance", store.RejectStaleTimestamp
			case errors.Is(err, connectors.ErrNotSigned):
				reason = store.RejectMissingSignature
			}
			if cfg.Rejections != nil {
				cfg.Rejections.Record(shop.ID, reason, cfg.Now())
			}
			jsonError(c, http.StatusUnauthorized, msg)
			return
		}
		in := store.Incoming{ShopID: shop.ID, Source: source, Body: body, ReceivedAt: cfg.Now().UTC()}
		in.UsesScript = usesScript(shop, in.ReceivedAt)
		in.BeaconHold = beaconHold(cfg, shop, in.ReceivedAt)
		wh, err := conn.Parse(h, body, shop.Rules)
		if err != nil {
			in.ParseError = err.Error()
			in.Topic = wh.Topic
		} else {
			if wh.Outcome == mapping.OutcomePing {
				c.JSON(http.StatusOK, gin.H{"status": "ok"})
				return
			}
			in.Webhook, in.Topic = wh, wh.Topic
		}
		res, err := cfg.Committer.Commit(ctx, in)
		if err != nil {
			cfg.Metrics.CommitErrors.Inc()
			cfg.Log.ErrorContext(ctx, "commit webhook", slog.String("source", string(source)), slog.Int64("shop_id", shop.ID), slog.String("error", err.Error()))
			jsonError(c, http.StatusServiceUnavailable, "could not store the webhook; retry")
			return
		}
		cfg.Metrics.Webhooks.WithLabelValues(string(source), res.Status).Inc()
		cfg.Metrics.WebhookSeconds.Observe(time.Since(start).Seconds())
		c.JSON(http.StatusOK, gin.H{"status": res.Status, "event_id": res.EventID})
	}
}

// verify checks the signature against the shop's secret, and during a
// rotation against the previous one too, until its overlap ends. An empty
// secret never verifies anything.
func verify(conn connectors.Connector, h http.Header, body []byte, shop store.Shop, now time.Time) error {
	previous := shop.PreviousSecretActive(now)
	if shop.SigningSecret == "" && !previous {
		return connectors.ErrNoValidSignature
	}
	err := connectors.ErrNoValidSignature
	if shop.SigningSecret != "" {
		err = conn.Verify(h, body, shop.SigningSecret)
	}
	if err != nil && previous && !errors.Is(err, connectors.ErrNotSigned) {
		if perr := conn.Verify(h, body, shop.PreviousSecret); perr == nil {
			return nil
		}
	}
	return err
}

// shopCache keeps shops looked up by webhook key for a short while: the
// webhook path reads a shop (and decrypts its secret) on every request.
type shopCache struct {
	s   *store.Store
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedShop
}

type cachedShop struct {
	shop    store.Shop
	expires time.Time
}

func newShopCache(s *store.Store, ttl time.Duration, now func() time.Time) *shopCache {
	return &shopCache{s: s, ttl: ttl, now: now, m: map[string]cachedShop{}}
}

func (sc *shopCache) get(ctx context.Context, key string) (store.Shop, error) {
	now := sc.now()
	sc.mu.Lock()
	e, ok := sc.m[key]
	sc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.shop, nil
	}
	shop, err := sc.s.ShopByKey(ctx, key)
	if err != nil {
		return store.Shop{}, err
	}
	sc.mu.Lock()
	if len(sc.m) > 10_000 {
		sc.m = map[string]cachedShop{}
	}
	sc.m[key] = cachedShop{shop: shop, expires: now.Add(sc.ttl)}
	sc.mu.Unlock()
	return shop, nil
}

// forget drops a shop after it changed here.
func (sc *shopCache) forget(key string) {
	sc.mu.Lock()
	delete(sc.m, key)
	sc.mu.Unlock()
}

// errInflightFull means the webhook bytes in flight reached their cap.
var errInflightFull = errors.New("webhook bytes in flight over the cap")

// bodyBudget reads webhook bodies into pooled buffers that grow as bytes
// arrive, never sized from what the client declares (Content-Length), and
// caps the bytes held by all webhook requests together: a flood of slow
// or huge bodies meets 503 instead of growing the heap.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
	pool  sync.Pool
}

// bodyBuf is one request's body and the bytes it reserved.
type bodyBuf struct {
	b        []byte
	reserved int64
}

// readChunk is how much a body grows by at a time, and reserves ahead.
const readChunk = 16 << 10

// pooledCap caps the buffers kept for reuse: an occasional large body is
// left to the garbage collector rather than pinned in the pool.
const pooledCap = 64 << 10

func newBodyBudget(limit int64) *bodyBudget {
	return &bodyBudget{limit: limit, pool: sync.Pool{New: func() any { return &bodyBuf{b: make([]byte, 0, readChunk)} }}}
}

func (bb *bodyBudget) reserve(buf *bodyBuf, n int64) bool {
	if bb.used.Add(n) > bb.limit {
		bb.used.Add(-n)
		return false
	}
	buf.reserved += n
	return true
}

// read reads the whole body up to limit. Each chunk of buffer is reserved
// from the budget before bytes are read into it.
func (bb *bodyBudget) read(c *gin.Context, limit int64) (*bodyBuf, error) {
	buf := bb.pool.Get().(*bodyBuf)
	buf.b = buf.b[:0]
	if !bb.reserve(buf, int64(cap(buf.b))) {
		return buf, errInflightFull
	}
	r := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	for {
		if len(buf.b) == cap(buf.b) {
			grow := min(int64(cap(buf.b)), 1<<20)
			if !bb.reserve(buf, grow) {
				return buf, errInflightFull
			}
			had := int64(cap(buf.b))
			buf.b = slices.Grow(buf.b, int(grow))
			// append rounds up to a size class: count what was allocated.
			if extra := int64(cap(buf.b)) - had - grow; extra > 0 {
				bb.used.Add(extra)
				buf.reserved += extra
			}
		}
		n, err := r.Read(buf.b[len(buf.b):cap(buf.b)])
		buf.b = buf.b[:len(buf.b)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// release returns a request's reservation and, if small, its buffer. It
// runs once the handler has answered, when the store holds its own copy.
func (bb *bodyBudget) release(buf *bodyBuf) {
	bb.used.Add(-buf.reserved)
	buf.reserved = 0
	if cap(buf.b) <= pooledCap {
		buf.b = buf.b[:0]
		bb.pool.Put(buf)
	}
}
