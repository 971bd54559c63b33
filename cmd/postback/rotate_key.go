package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/postbackhq/postback/store"
)

// oldKeyEnv names the key rotate-key re-encrypts from. It is read from the
// environment only (never a flag, so it never shows in usage or ps) and
// only by rotate-key.
const oldKeyEnv = "POSTBACK_OLD_SECRET_KEY"

// rotateKey is `postback rotate-key`: every sealed value (signing secrets,
// Stripe keys, destination credentials) is re-encrypted under the current
// key (POSTBACK_SECRET_KEY or the key file) from the one in
// POSTBACK_OLD_SECRET_KEY, in one transaction. Values already under the
// current key are skipped, so an interrupted run is simply run again.
// Values in the format written before key ids are upgraded too; with the
// same key in both variables that is all it does.
func rotateKey(ctx context.Context, cfg Config, st *store.Store, getenv func(string) string, stdout io.Writer, log *slog.Logger) error {
	raw := strings.TrimSpace(getenv(oldKeyEnv))
	if raw == "" {
		return errors.New(oldKeyEnv + ": required: the key the stored secrets are sealed with now (POSTBACK_SECRET_KEY, or the key file, holds the new one)")
	}
	oldKey, err := store.ParseKey(raw)
	if err != nil {
		return fmt.Errorf("%s: %v", oldKeyEnv, err)
	}
	old, err := store.NewSealer(oldKey)
	if err != nil {
		return fmt.Errorf("%s: %v", oldKeyEnv, err)
	}
	if st.Dialect() == store.SQLite {
		// A running server would keep sealing with the old key.
		if path := store.SQLitePath(cfg.DatabaseURL); path != "" {
			release, err := lockSQLite(path)
			if err != nil {
				return fmt.Errorf("%v (stop the server before rotate-key)", err)
			}
			defer release()
		}
	}
	res, err := st.RotateKey(ctx, old, store.RotateOptions{})
	if err != nil {
		return err
	}
	log.Info("rotated the encryption key of stored secrets", slog.Int("resealed", res.Resealed), slog.Int("already_current", res.Current))
	fmt.Fprintf(stdout, "re-encrypted %d stored secrets under the current key (%d were already)\n", res.Resealed, res.Current)
	return nil
}

// warnOtherKeys tells the operator at start when stored secrets are sealed
// with another key (they cannot be used until rotate-key runs) or in the
// old format.
func warnOtherKeys(ctx context.Context, st *store.Store, log *slog.Logger) {
	other, legacy, err := st.SealedWithOtherKeys(ctx)
	switch {
	case err != nil:
		log.Warn("could not check the keys of stored secrets", slog.String("error", err.Error()))
	case other > 0:
		log.Warn("stored secrets are sealed with another key and cannot be used; run postback rotate-key with "+oldKeyEnv,
			slog.Int("count", other))
	case legacy > 0:
		// Written before values carried a key id and were bound to their
		// row: seal them again in the current format.
		n, err := st.UpgradeSealed(ctx)
		if err != nil {
			log.Warn("could not upgrade stored secrets to the current format; postback rotate-key with "+oldKeyEnv+
				" set to the current key retries", slog.String("error", err.Error()))
			return
		}
		log.Info("upgraded stored secrets to the format bound to their rows", slog.Int("count", n))
	}
}
