package delivery

import (
	"context"
	"time"

	"github.com/postbackhq/postback/store"
)

// Store is what the worker needs from the database; *store.Store is the
// real one, and tests wrap it to make it fail.
type Store interface {
	DueDestinations(ctx context.Context, now time.Time, limit int) ([]int64, error)
	Destination(ctx context.Context, id int64) (store.Destination, error)
	Claim(ctx context.Context, destinationID int64, owner string, limit int, now time.Time, lease time.Duration) ([]store.Claimed, error)
	BeginProbe(ctx context.Context, id int64, now time.Time, hold time.Duration) (bool, error)
	ClaimProbe(ctx context.Context, destinationID int64, owner string, now time.Time, lease time.Duration) ([]store.Claimed, error)
	RenewLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	Complete(ctx context.Context, owner string, outs []store.Outcome, now time.Time) error
	ReleaseLeases(ctx context.Context, owner string) error
	ReleaseClaims(ctx context.Context, owner string, ids []int64) error
	ParkDestinationUntil(ctx context.Context, id int64, reason string, probes int, now, probeAt time.Time) error
	PauseDestination(ctx context.Context, id int64, failures int, until time.Time) error
	RecoverDestination(ctx context.Context, id int64, now time.Time) (int64, error)
	ThrottleDestination(ctx context.Context, id int64, until time.Time) error
	ExpireDeliveries(ctx context.Context, now time.Time) (int64, error)
	WaitingForCredentials(ctx context.Context) ([]store.WaitingCredentials, error)
	DuePlatformChecks(ctx context.Context, now time.Time, limit int) ([]store.PlatformCheck, error)
	RecordPlatformStatus(ctx context.Context, ids []int64, state, detail string, next, now time.Time) error
}

var _ Store = (*store.Store)(nil)
