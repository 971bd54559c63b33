package platforms

import "context"

// The states of a platform's own verdict on a request it accepted for later
// processing (Google Data Manager's requestStatus).
const (
	StatusProcessing = "processing" // not processed yet; ask again later
	StatusAccepted   = "accepted"   // processed, every event accepted
	StatusPartial    = "partial"    // processed, some events rejected
	StatusRejected   = "rejected"   // processed, the events were rejected
)

// PlatformStatus is what a platform reported after processing a request.
type PlatformStatus struct {
	State  string // one of the Status constants
	Done   bool   // the platform has finished; no need to ask again
	Detail string // the platform's counts and reasons, safe to show
}

// StatusChecker is implemented by senders whose platform processes requests
// after answering them (Google Data Manager): the delivery's stored answer
// names a request whose verdict can be read back later.
type StatusChecker interface {
	// RequestID reads the platform's request id from a delivery's stored
	// response; "" when there is nothing to follow up.
	RequestID(response string) string
	// RequestStatus asks the platform for the request's verdict.
	RequestStatus(ctx context.Context, d Destination, requestID string) (PlatformStatus, error)
}
