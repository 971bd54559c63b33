package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// sealedColumn is one column holding sealed values.
type sealedColumn struct{ table, column, key string }

// keyColumn is the row's id column, bound into the sealed value.
func (c sealedColumn) keyColumn() string {
	if c.key == "" {
		return "id"
	}
	return c.key
}

// sealedColumns lists every column that holds sealed values. A migration
// that adds one must add it here, so that rotate-key re-encrypts it.
var sealedColumns = []sealedColumn{
	{"shops", "signing_secret", ""},
	{"shops", "previous_secret", ""},
	{"shops", "stripe_api_key", ""},
	{"destinations", "credentials", ""},
	{"shop_store_api", "credentials", "shop_id"},
	{"alert_channels", "target", ""},
}

// RotateOptions tune RotateKey.
type RotateOptions struct {
	// BatchSize is how many rows are read at a time (default 200).
	BatchSize int
	// AfterBatch, when set, runs after each batch inside the transaction;
	// an error from it rolls everything back (tests use it to fail or to
	// be killed between batches).
	AfterBatch func(done int) error
}

// RotateResult counts what RotateKey did.
type RotateResult struct {
	// Resealed values were sealed with the old key (or in the old format)
	// and are now sealed with the store's key.
	Resealed int
	// Current values were already sealed with the store's key.
	Current int
}

// RotateKey re-encrypts every sealed value under the store's key. Values
// sealed with old (by key id, or in the format without one) are opened
// with it and sealed again, bound to their row; values already under the
// store's key are left alone, so a run that was interrupted can simply be
// run again. Everything happens in one transaction: a failure or a kill
// leaves every value as it was. A value neither key opens stops the
// rotation, naming its row.
func (s *Store) RotateKey(ctx context.Context, old *Sealer, opt RotateOptions) (RotateResult, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 200
	}
	var res RotateResult
	err := s.write(ctx, func(tx *gormDB) error {
		res = RotateResult{}
		done := 0
		var broken []string
		for _, c := range sealedColumns {
			var last int64
			for {
				var rows []struct {
					ID    int64
					Value []byte
				}
				k := c.keyColumn()
				q := fmt.Sprintf(`SELECT %s AS id, %s AS value FROM %s WHERE %s > ? AND %s IS NOT NULL ORDER BY %s LIMIT ?`, k, c.column, c.table, k, c.column, k)
				if err := tx.Raw(q, last, opt.BatchSize).Scan(&rows).Error; err != nil {
					return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
				}
				if len(rows) == 0 {
					break
				}
				for _, r := range rows {
					last = r.ID
					if len(r.Value) == 0 {
						continue
					}
					sealed, changed, err := s.reseal(old, c, r.ID, r.Value)
					if err != nil {
						broken = append(broken, fmt.Sprintf("%s %d %s: %v", strings.TrimSuffix(c.table, "s"), r.ID, c.column, err))
						continue
					}
					if !changed {
						res.Current++
						continue
					}
					if err := tx.Exec(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ?`, c.table, c.column, k), sealed, r.ID).Error; err != nil {
						return fmt.Errorf("update %s.%s: %w", c.table, c.column, err)
					}
					res.Resealed++
				}
				done += len(rows)
				if opt.AfterBatch != nil {
					if err := opt.AfterBatch(done); err != nil {
						return err
					}
				}
			}
		}
		if len(broken) > 0 {
			return fmt.Errorf("%w by either key, nothing was changed: %s", ErrUnsealable, strings.Join(broken, "; "))
		}
		return nil
	})
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate key: %w", err)
	}
	return res, nil
}

// UpgradeSealed re-seals values written in the format without key id or
// associated data under the store's key, binding each to its row. Values
// sealed with another key are left alone (rotate-key handles those).
func (s *Store) UpgradeSealed(ctx context.Context) (int, error) {
	res, err := s.RotateKey(ctx, s.sealer, RotateOptions{})
	return res.Resealed, err
}

// reseal returns the value sealed with the store's key, and whether it
// changed.
func (s *Store) reseal(old *Sealer, c sealedColumn, id int64, v []byte) ([]byte, bool, error) {
	if v[0] == sealV2 && len(v) > keyIDSize && bytes.Equal(v[1:1+keyIDSize], s.sealer.id[:]) {
		// Already under the new key: it must open, or it is corrupt.
		if _, err := s.sealer.Open(c.table, c.column, id, v); err != nil {
			return nil, false, err
		}
		return v, false, nil
	}
	plain, err := old.Open(c.table, c.column, id, v)
	if err != nil && v[0] == sealV1 {
		// A legacy value may already be under the new key.
		var nerr error
		if plain, nerr = s.sealer.Open(c.table, c.column, id, v); nerr == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	sealed, err := s.sealer.Seal(c.table, c.column, id, plain)
	if err != nil {
		return nil, false, err
	}
	return sealed, true, nil
}

// SealedWithOtherKeys counts stored values the store's key cannot open
// because another key (or the old format) sealed them, so serve can tell
// the operator to run rotate-key.
func (s *Store) SealedWithOtherKeys(ctx context.Context) (other, legacy int, err error) {
	for _, c := range sealedColumns {
		q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`, c.column, c.table, c.column)
		vals, err := scanBlobs(s.rdb.WithContext(ctx), q)
		if err != nil {
			return 0, 0, fmt.Errorf("count sealed values: %w", err)
		}
		for _, v := range vals {
			switch {
			case len(v) == 0:
			case v[0] == sealV1:
				legacy++
			case v[0] == sealV2 && !bytes.Equal(v[1:min(len(v), 1+keyIDSize)], s.sealer.id[:]):
				other++
			}
		}
	}
	return other, legacy, nil
}

// scanBlobs runs a query returning one binary column.
func scanBlobs(db *gormDB, query string, args ...any) ([][]byte, error) {
	rows, err := db.Raw(query, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
