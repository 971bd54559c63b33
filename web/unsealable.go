package web

import (
	"errors"

	"github.com/postbackhq/postback/store"
)

// isUnsealable reports a stored secret that cannot be decrypted (another
// key, corrupted data): shown as such, not as a database outage.
func isUnsealable(err error) bool { return errors.Is(err, store.ErrUnsealable) }
