package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/currency"
)

// The normalizers below implement the rules Meta publishes for customer
// information parameters (and that most platforms copy). Each returns the
// normalized, unhashed string, or "" when the input holds nothing usable.
// Platforms whose rules differ adjust the result in their own file (Google
// keeps the + of an E.164 phone, Meta drops it).

// ErrPhone is returned for a phone number that cannot be parsed.
var ErrPhone = errors.New("phone number cannot be parsed")

// ErrCurrency is returned for a currency code that is not ISO 4217.
var ErrCurrency = errors.New("unknown currency")

// NormalizeEmail trims and lowercases an email address. It keeps dots and
// +tags, and returns "" for anything not shaped like an address.
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n,;<>()[]\\\"") {
		return ""
	}
	domain := s[at+1:]
	if strings.Count(s, "@") != 1 || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return ""
	}
	return s
}

// NormalizePhone parses a phone number and returns it in E.164 form
// ("+14155550100"). A number without a country code is read as a national
// number of country (ISO 3166-1 alpha-2, typically the billing country). It
// returns ErrPhone when the number cannot be parsed or is not possible.
func NormalizePhone(raw, country string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if IsHashed(s) {
		return "", fmt.Errorf("%w: already hashed", ErrPhone)
	}
	// "00" is the international prefix in most of the world; libphonenumber
	// only knows it for regions that use it, so spell it as "+".
	if digits := strings.TrimLeft(s, " "); strings.HasPrefix(digits, "00") {
		s = "+" + strings.TrimPrefix(digits, "00")
	}
	region := strings.ToUpper(strings.TrimSpace(country))
	if strings.HasPrefix(s, "+") {
		region = ""
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPhone, err)
	}
	if !phonenumbers.IsPossibleNumber(n) {
		return "", fmt.Errorf("%w: not a possible number", ErrPhone)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// PhoneDigits is a normalized E.164 phone without its "+", as Meta,
// TikTok and others want it.
func PhoneDigits(e164 string) string { return strings.TrimPrefix(e164, "+") }

// NormalizeName lowercases a first or last name and removes whitespace and
// punctuation, keeping letters (accented ones too) and digits.
func NormalizeName(s string) string { return lettersDigits(s) }

// NormalizeCity lowercases a city and removes whitespace and punctuation.
func NormalizeCity(s string) string { return lettersDigits(s) }

// NormalizeState returns a US state or Canadian province as its two-letter
// code ("California" → "ca"); elsewhere it lowercases and keeps letters and
// digits.
func NormalizeState(state, country string) string {
	s := lettersDigits(state)
	if s == "" {
		return ""
	}
	if code, ok := stateCodes[s]; ok {
		return code
	}
	return s
}

// NormalizeZip lowercases a postal code, removes whitespace and keeps the
// part before the first "-"; a US zip keeps its first five digits.
func NormalizeZip(zip, country string) string {
	s := strings.ToLower(strings.TrimSpace(zip))
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), "")
	if strings.EqualFold(strings.TrimSpace(country), "us") && len(s) > 5 {
		s = s[:5]
	}
	return s
}

// NormalizeCountry returns a lowercase ISO 3166-1 alpha-2 code, or "".
func NormalizeCountry(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	if b.Len() != 2 {
		return ""
	}
	return b.String()
}

// NormalizeExternalID lowercases an external id and removes whitespace.
func NormalizeExternalID(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// NormalizeGender returns "m", "f" or "".
func NormalizeGender(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "m", "male", "man", "boy":
		return "m"
	case "f", "female", "woman", "girl":
		return "f"
	}
	return ""
}

// NormalizeBirthDate returns a date of birth as YYYYMMDD, reading
// YYYY-MM-DD, YYYYMMDD and M/D/YYYY; "" when it cannot.
func NormalizeBirthDate(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "20060102", "1/2/2006", "01/02/2006", "2/1/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("20060102")
		}
	}
	return ""
}

// NormalizeCurrency validates an ISO 4217 code and returns it upper case.
func NormalizeCurrency(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if len(code) != 3 {
		return "", fmt.Errorf("%w %q", ErrCurrency, s)
	}
	u, err := currency.ParseISO(code)
	if err != nil || u.String() != code {
		return "", fmt.Errorf("%w %q", ErrCurrency, s)
	}
	return code, nil
}

// Hash returns the lowercase hex SHA-256 of a normalized value. A value that
// already is a SHA-256 hex digest is returned as it is, never hashed twice;
// "" stays "".
func Hash(normalized string) string {
	if normalized == "" {
		return ""
	}
	if IsHashed(normalized) {
		return strings.ToLower(normalized)
	}
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

// IsHashed reports whether s looks like a SHA-256 hex digest.
func IsHashed(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// lettersDigits lowercases s and keeps only letters (with their combining
// marks) and digits.
func lettersDigits(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stateCodes maps normalized US state and Canadian province names to their
// codes.
var stateCodes = map[string]string{
	"alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
	"colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
	"florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
	"indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
	"maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
	"mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
	"newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
	"northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
	"pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
	"tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
	"washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
	"puertorico": "pr", "guam": "gu", "americansamoa": "as", "virginislands": "vi",
	"northernmarianaislands": "mp",
	"alberta":                "ab", "britishcolumbia": "bc", "manitoba": "mb", "newbrunswick": "nb",
	"newfoundlandandlabrador": "nl", "novascotia": "ns", "ontario": "on",
	"princeedwardisland": "pe", "quebec": "qc", "québec": "qc", "saskatchewan": "sk",
	"northwestterritories": "nt", "nunavut": "nu", "yukon": "yt",
}
