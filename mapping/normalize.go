package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/currency"
	"golang.org/x/text/unicode/norm"
)

// The normalizers below implement the rules Meta publishes for customer
// information parameters (and that most platforms copy). Each returns the
// normalized, unhashed string, or "" when the input holds nothing usable.
// Platforms whose rules differ adjust the result in their own file (Google
// keeps the + of an E.164 phone, Meta drops it).
//
// Every normalizer except NormalizePhone passes a value already shaped like a
// SHA-256 hex digest (a store or script that hashed it first) through,
// lowercased, so that Hash(NormalizeX(v)) never hashes twice nor loses it.

// ErrPhone is returned for a phone number that cannot be parsed.
var ErrPhone = errors.New("phone number cannot be parsed")

// ErrCurrency is returned for a currency code that is not ISO 4217.
var ErrCurrency = errors.New("unknown currency")

// NormalizeEmail trims and lowercases an email address. It keeps dots and
// +tags, and returns "" for anything not shaped like an address.
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if IsHashed(s) {
		return s
	}
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

// maxPhoneInput bounds what NormalizePhone hands to libphonenumber, which
// refuses longer input anyway.
const maxPhoneInput = 250

// NormalizePhone parses a phone number and returns it in E.164 form
// ("+14155550100"). A number without a country code is read as a national
// number of country (ISO 3166-1 alpha-2, typically the billing country; "UK"
// is read as GB). An international prefix may be written "+", "00" or, as
// Meta's SDKs tolerate, both ("+001 616…"). It returns "" for an empty
// input, and ErrPhone when the number cannot be parsed or is not possible.
func NormalizePhone(raw, country string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if IsHashed(s) {
		return "", fmt.Errorf("%w: already hashed", ErrPhone)
	}
	if len(s) > maxPhoneInput {
		return "", fmt.Errorf("%w: too long", ErrPhone)
	}
	// "00" is the international prefix in most of the world; libphonenumber
	// only knows it for regions that use it, so spell it as "+". No country
	// code starts with 0, so zeros after a "+" are a doubled prefix.
	international := false
	if t := strings.TrimLeft(s, " \t("); strings.HasPrefix(t, "+") {
		international, s = true, t[1:]
	} else if strings.HasPrefix(t, "00") {
		international, s = true, t
	}
	if international {
		s = "+" + strings.TrimLeft(s, "0 \t()-.")
	}
	region := strings.ToUpper(strings.TrimSpace(country))
	if region == "UK" {
		region = "GB"
	}
	if international {
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

// PhoneDigitsLoose is Meta's published phone rule, for a number the phone
// library cannot read: keep the digits only, drop leading zeros, and when the
// digits do not start with the calling code of country (ISO 3166-1 alpha-2,
// the billing country) put it in front. It returns "" when fewer than 7
// digits remain or the input already is a digest. Source: Meta, Conversions
// API "Customer Information Parameters", ph ("Remove symbols, letters, and
// any leading zeros. Phone numbers must include a country code"), read
// 2026-12-03.
func PhoneDigitsLoose(raw, country string) string {
	s := strings.TrimSpace(raw)
	if s == "" || IsHashed(s) || len(s) > maxPhoneInput {
		return ""
	}
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	digits := strings.TrimLeft(b.String(), "0")
	region := strings.ToUpper(strings.TrimSpace(country))
	if region == "UK" {
		region = "GB"
	}
	t := strings.TrimLeft(s, " \t(")
	international := strings.HasPrefix(t, "+") || strings.HasPrefix(t, "00")
	code := phonenumbers.GetCountryCodeForRegion(region)
	switch cc := strconv.Itoa(code); {
	case code != 0 && digits != "" && !strings.HasPrefix(digits, cc):
		digits = cc + digits
	case code == 0 && !international:
		// Without a billing country nothing says which country code a
		// national number needs, and Meta cannot match one without it.
		return ""
	}
	// E.164 allows at most 15 digits; fewer than 7 cannot be a phone.
	if len(digits) < 7 || len(digits) > 15 {
		return ""
	}
	return digits
}

// PhoneDigits is a normalized E.164 phone without its "+", as Meta,
// TikTok and others want it.
func PhoneDigits(e164 string) string { return strings.TrimPrefix(e164, "+") }

// NormalizeName lowercases a first or last name and removes whitespace and
// punctuation, keeping letters (accented ones too, in Unicode NFC form) and
// digits.
func NormalizeName(s string) string { return lettersDigits(s) }

// NormalizeCity lowercases a city and removes whitespace and punctuation.
func NormalizeCity(s string) string { return lettersDigits(s) }

// NormalizeState returns a US state or Canadian province as its two-letter
// code ("California" → "ca") when country is US, CA or unknown; otherwise,
// and for names it does not know, it lowercases and keeps letters and
// digits.
func NormalizeState(state, country string) string {
	s := lettersDigits(state)
	if s == "" {
		return ""
	}
	switch strings.ToUpper(strings.TrimSpace(country)) {
	case "", "US", "CA":
		if code, ok := stateCodes[s]; ok {
			return code
		}
	}
	return s
}

// NormalizeZip lowercases a postal code, removes whitespace and keeps the
// part before the first "-"; a US zip keeps its first five digits.
func NormalizeZip(zip, country string) string {
	s := strings.ToLower(strings.TrimSpace(zip))
	if IsHashed(s) {
		return s
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), "")
	if strings.EqualFold(strings.TrimSpace(country), "us") {
		// Cut by characters, not bytes, so junk input stays valid UTF-8.
		if r := []rune(s); len(r) > 5 {
			s = string(r[:5])
		}
	}
	return s
}

// NormalizeCountry returns a lowercase ISO 3166-1 alpha-2 code, or "".
func NormalizeCountry(s string) string {
	if t := strings.TrimSpace(s); IsHashed(t) {
		return strings.ToLower(t)
	}
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
	// Lowercase first: it also turns invalid UTF-8 into U+FFFD, so removing
	// the spaces cannot join stray bytes into a new character.
	return strings.Join(strings.Fields(strings.ToLower(s)), "")
}

// NormalizeGender returns "m", "f" or "".
func NormalizeGender(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "m", "male", "man", "boy":
		return "m"
	case "f", "female", "woman", "girl":
		return "f"
	}
	if IsHashed(s) {
		return s
	}
	return ""
}

// NormalizeBirthDate returns a date of birth as YYYYMMDD; "" when it cannot.
// It reads YYYYMMDD, and three numbers split by any separators with a
// four-digit year first (1990-12-31) or last (2/16/1997, 31.12.1990); when
// the year is last, a number above 12 marks the day, and otherwise the month
// comes first, as in Meta's parameter builder.
func NormalizeBirthDate(s string) string {
	s = strings.TrimSpace(s)
	if IsHashed(s) {
		return strings.ToLower(s)
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if len(parts) == 1 && len(parts[0]) == 8 {
		p := parts[0]
		parts = []string{p[:4], p[4:6], p[6:]}
	}
	if len(parts) != 3 {
		return ""
	}
	n := make([]int, 3)
	for i, p := range parts {
		if len(p) > 4 {
			return ""
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return ""
		}
		n[i] = v
	}
	var y, m, d int
	switch {
	case len(parts[0]) == 4 && len(parts[2]) <= 2:
		y, m, d = n[0], n[1], n[2]
	case len(parts[2]) == 4 && len(parts[0]) <= 2 && len(parts[1]) <= 2:
		y, m, d = n[2], n[0], n[1]
		if n[0] > 12 {
			m, d = n[1], n[0]
		}
	default:
		return ""
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if y < 1000 || t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return ""
	}
	return t.Format("20060102")
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
// marks) and digits, in NFC form so that "é" typed as one code point or as
// "e" plus an accent hashes the same.
func lettersDigits(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	// Compose after filtering: dropping a space can bring a letter and an
	// accent together ("a ́" → "á").
	return norm.NFC.String(b.String())
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
