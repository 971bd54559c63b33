package connectors

import (
	"context"
	"crypto/rand"
	"encoding/base64"
)

// Subscription is one webhook subscription in a store: what it listens to
// (Topic, in the store's own spelling), where it sends, and whether the
// store still delivers it.
type Subscription struct {
	ID     string
	Topic  string
	URL    string
	Active bool
	// Status is the store's word for the state (active, paused, disabled,
	// enabled).
	Status string
}

// Registrar manages a store's webhook subscriptions through its API.
type Registrar interface {
	// Subscriptions lists the store's subscriptions (Postback's and any
	// other).
	Subscriptions(ctx context.Context, cred StoreCredentials) ([]Subscription, error)
	// Subscribe creates subscriptions to url for topics. secret is the
	// signing secret to use where the store lets the caller choose
	// (WooCommerce); it returns the secret the store will sign with
	// ("" when it is the caller's or the app's).
	Subscribe(ctx context.Context, cred StoreCredentials, url string, topics []string, secret string) (string, error)
	// Reactivate turns a paused or disabled subscription back on.
	Reactivate(ctx context.Context, cred StoreCredentials, s Subscription) error
}

// Topics lists the subscription topics a shop with trigger needs, in the
// store's spelling.
func Topics(source string, fulfilled bool) []string {
	switch source {
	case "shopify":
		t := []string{"ORDERS_PAID", "ORDERS_UPDATED", "REFUNDS_CREATE"}
		if fulfilled {
			t = append(t, "ORDERS_FULFILLED")
		}
		return t
	case "woocommerce":
		return []string{"order.created", "order.updated"}
	case "stripe":
		return []string{"checkout.session.completed", "checkout.session.async_payment_succeeded",
			"payment_intent.succeeded", "invoice.paid", "charge.refunded"}
	}
	return nil
}

// NewSigningSecret returns a random secret for stores that let Postback
// choose it (WooCommerce).
func NewSigningSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
