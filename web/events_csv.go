package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

// csvPage is how many events one query of an export reads: the export
// streams page by page, so its memory does not grow with the list.
const csvPage = 500

var csvHeader = []string{
	"id", "received_at", "shop_id", "shop", "source", "topic", "order_name", "order_id", "status", "reason",
	"event_name", "value", "currency", "conversion_event_id", "match_quality", "deliveries",
}

// streamEventsCSV writes every event the filter selects (newest first) as
// CSV, flushing after each page. An error after the first byte can only
// end the stream; it is logged, and the file lacks its last rows.
func streamEventsCSV(c *gin.Context, cfg Config, f store.EventFilter) {
	ctx := c.Request.Context()
	shops, err := cfg.Store.Shops(ctx)
	if err != nil {
		storeError(c, cfg.Log, err, "shops")
		return
	}
	names := make(map[int64]string, len(shops))
	for _, sh := range shops {
		names[sh.ID] = sh.Name
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="postback-events-%s.csv"`, cfg.Now().UTC().Format("20060102-150405")))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	if err := w.Write(csvHeader); err != nil {
		return
	}
	f.Limit = csvPage
	for {
		events, err := cfg.Store.Events(ctx, f)
		if err != nil {
			if ctx.Err() == nil {
				cfg.Log.ErrorContext(ctx, "csv export stopped", "error", err.Error())
			}
			return
		}
		for _, e := range events {
			if err := w.Write(csvRow(e, names[e.ShopID])); err != nil {
				return
			}
		}
		w.Flush()
		if w.Error() != nil || len(events) < f.Limit {
			return
		}
		c.Writer.Flush()
		f.Before = events[len(events)-1].ID
	}
}

func csvRow(e store.Event, shop string) []string {
	orderName, quality := "", ""
	if e.Conversion != nil {
		orderName = e.Conversion.OrderName
	}
	if e.Match != nil {
		quality = strconv.Itoa(e.Match.Quality)
	}
	var dels []string
	for _, d := range e.Deliveries {
		dels = append(dels, d.Platform+":"+d.Status)
	}
	received := ""
	if !e.ReceivedAt.IsZero() {
		received = e.ReceivedAt.UTC().Format(time.RFC3339)
	}
	row := []string{
		strconv.FormatInt(e.ID, 10), received, strconv.FormatInt(e.ShopID, 10), shop, e.Source, e.Topic,
		orderName, e.OrderID, e.Status, e.Reason, e.EventName, e.Value, e.Currency, e.ConversionEventID,
		quality, strings.Join(dels, " "),
	}
	for _, i := range []int{3, 5, 6, 7, 9, 10, 13} { // the text that comes from outside
		row[i] = csvSafe(row[i])
	}
	return row
}

// csvSafe defuses a cell a spreadsheet would run as a formula (OWASP "CSV
// injection"): shop names, order names and reasons come from outside.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
