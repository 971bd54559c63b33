// Package migrations holds the versioned SQL schema, one folder per
// database dialect. Both folders carry the same version numbers; the SQL
// differs only where the dialects do (auto-increment keys, binary columns).
package migrations

import "embed"

// FS holds the migration files, under sqlite/ and postgres/.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
