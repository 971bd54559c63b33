package store

import (
	"strings"
	"sync"
)

// Statements over many rows are built in a few fixed shapes, so that
// their SQL repeats and stays in the prepared-statement cache (bounded:
// see maxPreparedStatements) instead of preparing, and keeping, one
// statement per list length.

// maxPreparedStatements bounds gorm's prepared-statement cache (least
// recently used statements are closed).
const maxPreparedStatements = 256

// idListSizes are the lengths id lists are padded to.
var idListSizes = []int{8, 64, 256, 1024}

// padIDs returns ids padded to the next of idListSizes by repeating its
// last id, for "IN ?" (a repeated id changes nothing in an IN list).
// Longer lists are padded to a multiple of the largest size; nil stays
// nil.
func padIDs(ids []int64) []int64 {
	if len(ids) == 0 {
		return ids
	}
	size := idListSizes[len(idListSizes)-1]
	for _, n := range idListSizes {
		if len(ids) <= n {
			size = n
			break
		}
	}
	if len(ids) > size {
		size = (len(ids) + size - 1) / size * size
	}
	out := make([]int64, size)
	copy(out, ids)
	for i := len(ids); i < size; i++ {
		out[i] = ids[len(ids)-1]
	}
	return out
}

// valuesCache holds "(?, ?, …), (?, …)…" lists by shape.
var valuesCache sync.Map

// valuesList is the VALUES list of rows rows of len(first) columns; the
// first row's placeholders are first (casts that give the columns their
// types on PostgreSQL), the others plain.
func valuesList(first []string, rows int) string {
	type key struct {
		first string
		rows  int
	}
	k := key{strings.Join(first, ","), rows}
	if v, ok := valuesCache.Load(k); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteByte('(')
	b.WriteString(strings.Join(first, ", "))
	b.WriteByte(')')
	plain := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(first)), ", ") + ")"
	for i := 1; i < rows; i++ {
		b.WriteString(", ")
		b.WriteString(plain)
	}
	s := b.String()
	valuesCache.Store(k, s)
	return s
}

var inCache sync.Map // int → string

// inList is "(?, ?, …)" with n placeholders, for a statement run as it is
// (see execBatch); padded key lists keep n to a few sizes.
func inList(n int) string {
	if v, ok := inCache.Load(n); ok {
		return v.(string)
	}
	l := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	inCache.Store(n, l)
	return l
}
