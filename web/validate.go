package web

import "strings"

// fieldError is invalid input together with the field it belongs to: the
// JSON API answers Message as it is, the admin UI shows it next to Field.
type fieldError struct {
	// Field is the input's API name: "name", "settings.value_rule",
	// "credentials.pixel_id", or "credentials" for the set as a whole.
	Field   string
	Message string
}

func (e *fieldError) Error() string { return e.Message }

// badField is a fieldError whose message starts with the field's name.
func badField(field, rest string) *fieldError {
	return &fieldError{Field: field, Message: field + " " + rest}
}

// Detail is the message without the leading field name, capitalized, for
// showing beside the field it concerns.
func (e *fieldError) Detail() string {
	rest, ok := strings.CutPrefix(e.Message, e.Field+" ")
	if !ok || rest == "" {
		return e.Message
	}
	return strings.ToUpper(rest[:1]) + rest[1:]
}
