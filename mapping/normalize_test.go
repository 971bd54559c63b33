package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// vectorSHA256 is the test's own SHA-256, independent of Hash.
func vectorSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const (
	// A digest as a store that hashes before sending would give it.
	preHashedDigest      = "a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
	preHashedDigestUpper = "A3F1D4C2B6E8F0A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F6071829"
)

// The vectors marked §10 are platforms.md §10, collected from Meta's SDK and
// capi-param-builder test suites.

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"§10 java trims", "  foo@foo.com  ", "foo@foo.com"},
		{"§10 param-builder lowercases", "     John_Smith@gmail.com    ", "john_smith@gmail.com"},
		{"§10 keeps dots and +tag", "user.name+tag@domain.co.uk", "user.name+tag@domain.co.uk"},
		{"mixed case with tag", "  Jane.Doe+shop@Example.com ", "jane.doe+shop@example.com"},
		{"unicode local part kept", "José@example.com", "josé@example.com"},
		{"pre-hashed passes through", preHashedDigestUpper, preHashedDigest},
		{"empty", "", ""},
		{"no at", "foo.example.com", ""},
		{"two ats", "a@b@example.com", ""},
		{"nothing before at", "@example.com", ""},
		{"nothing after at", "foo@", ""},
		{"domain without dot", "foo@localhost", ""},
		{"domain starts with dot", "foo@.example.com", ""},
		{"domain ends with dot", "foo@example.com.", ""},
		{"inner space", "foo bar@example.com", ""},
		{"php-style junk is rejected, not sanitized", "foo(.bar)@baz.com/", ""},
		{"display name form", "Jane <jane@example.com>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeEmail(tt.in); got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, raw, country string
		want               string // E.164
		wantErr            bool
	}{
		// §10 vectors. The SDKs only strip non-digits and leading zeros; the
		// digits Meta receives are PhoneDigits(want), checked below.
		{"§10 php +44", "+442071838750", "", "+442071838750", false},
		{"§10 nodejs +1 with punctuation", "+1 (415) 555-0100", "", "+14155550100", false},
		{"§10 param-builder +001", "+001 (616) 954-78 88", "", "+16169547888", false},
		// §10 gives "123-456-7890" → "1234567890" because the SDKs do not add
		// a missing country code. Meta's docs require one, so we read the
		// number in the billing country instead (and refuse it without one).
		{"§10 national with billing country", "123-456-7890", "US", "+11234567890", false},
		{"§10 national without country", "123-456-7890", "", "", true},

		{"US national", "(217) 555-0143", "US", "+12175550143", false},
		{"US national, lower-case country", "(217) 555-0143", "us", "+12175550143", false},
		{"US national with trunk 1", "1-217-555-0143", "US", "+12175550143", false},
		{"US vanity letters", "1-800-FLOWERS", "US", "+18003569377", false},
		{"DE national", "030 12345678", "DE", "+493012345678", false},
		{"UK mobile national", "07911 123456", "GB", "+447911123456", false},
		{"UK written as UK", "07911 123456", "UK", "+447911123456", false},
		{"+44 ignores billing country", "+44 7911 123456", "DE", "+447911123456", false},
		{"+44 with trunk zero in parentheses", "+44 (0)7911 123456", "", "+447911123456", false},
		{"0044 prefix", "0044 7911 123456", "US", "+447911123456", false},
		{"0044 prefix without country", "00447911123456", "", "+447911123456", false},
		{"00 44 spaced", "00 44 7911 123456", "", "+447911123456", false},
		{"+ spaced from country code", "+ 44 20 7183 8750", "", "+442071838750", false},
		{"US 011 international prefix", "011 44 20 7183 8750", "US", "+442071838750", false},
		{"extension dropped", "+1 415 555 0100 ext. 12", "", "+14155550100", false},
		{"already E.164", "+12175550143", "", "+12175550143", false},
		{"surrounding whitespace", "  +12175550143\n", "", "+12175550143", false},

		{"empty is not an error", "", "US", "", false},
		{"blank is not an error", "   ", "US", "", false},
		{"garbage", "not a phone", "US", "", true},
		{"too short", "12", "US", "", true},
		{"plus only", "+", "", "", true},
		{"zeros only", "0000", "DE", "", true},
		{"unknown country code", "+999 1234 5678", "", "", true},
		{"unknown billing country", "030 12345678", "ZZ", "", true},
		{"pre-hashed is not a phone", preHashedDigest, "US", "", true},
		{"absurdly long", strings.Repeat("1", 300), "US", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.raw, tt.country)
			if tt.wantErr {
				if !errors.Is(err, ErrPhone) {
					t.Fatalf("NormalizePhone(%q, %q) = %q, %v; want ErrPhone", tt.raw, tt.country, got, err)
				}
				if got != "" {
					t.Errorf("NormalizePhone(%q, %q) = %q with an error; want \"\"", tt.raw, tt.country, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePhone(%q, %q) = %q, %v; want %q, nil", tt.raw, tt.country, got, err, tt.want)
			}
			if again, err := NormalizePhone(got, ""); err != nil || again != got {
				t.Errorf("NormalizePhone(%q, \"\") = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestPhoneDigits(t *testing.T) {
	// §10 ph vectors: raw → the digits Meta hashes.
	tests := []struct{ raw, country, want string }{
		{"+442071838750", "", "442071838750"},
		{"+1 (415) 555-0100", "", "14155550100"},
		{"+001 (616) 954-78 88", "", "16169547888"},
		{"123-456-7890", "US", "11234567890"},
		{"+44 844 412 4653", "", "448444124653"}, // platforms.md Snapchat docs example
	}
	for _, tt := range tests {
		phone, err := NormalizePhone(tt.raw, tt.country)
		if err != nil {
			t.Fatalf("NormalizePhone(%q, %q): %v", tt.raw, tt.country, err)
		}
		if got := PhoneDigits(phone); got != tt.want {
			t.Errorf("PhoneDigits(NormalizePhone(%q, %q)) = %q, want %q", tt.raw, tt.country, got, tt.want)
		}
	}
	if got := PhoneDigits(""); got != "" {
		t.Errorf("PhoneDigits(\"\") = %q, want \"\"", got)
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"§10 java fn", "John", "john"},
		{"§10 java ln trims", "   Smith   ", "smith"},
		{"§10 param-builder apostrophe", "O'Connor", "oconnor"},
		{"§10 param-builder accent kept", "José", "josé"},
		{"decomposed accent composes to the same", "Jose\u0301", "josé"},
		{"umlaut", "Müller", "müller"},
		{"hyphen and space", "Mary-Jane Ann", "maryjaneann"},
		{"digits kept", "Louis XIV 2nd", "louisxiv2nd"},
		{"non-latin letters kept", "Дмитрий", "дмитрий"},
		{"punctuation only", ".-'", ""},
		{"pre-hashed passes through", preHashedDigestUpper, preHashedDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeName(tt.in); got != tt.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeCity(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"§10 space", "Menlo Park", "menlopark"},
		{"§10 periods", "Washington D.C", "washingtondc"},
		{"§10 parentheses", "Miami (Beach)", "miamibeach"},
		{"apostrophe and comma", "St. John's, NL", "stjohnsnl"},
		{"accent kept", "Zürich", "zürich"},
		{"empty", "  ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeCity(tt.in); got != tt.want {
				t.Errorf("NormalizeCity(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeState(t *testing.T) {
	tests := []struct{ name, state, country, want string }{
		{"§10 US name to code", "California", "US", "ca"},
		{"§10 periods removed", "N.Y.", "US", "ny"},
		{"§10 Canadian province", "Ontario", "CA", "on"},
		{"code kept", "IL", "US", "il"},
		{"two-word name", "North Carolina", "US", "nc"},
		{"unknown country still maps names", "California", "", "ca"},
		{"accented province", "Québec", "CA", "qc"},
		{"province without accent", "Quebec", "CA", "qc"},
		{"elsewhere no mapping", "Washington", "GB", "washington"},
		{"elsewhere letters kept", "Île-de-France", "FR", "îledefrance"},
		{"elsewhere code", "ENG", "GB", "eng"},
		{"empty", "", "US", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeState(tt.state, tt.country); got != tt.want {
				t.Errorf("NormalizeState(%q, %q) = %q, want %q", tt.state, tt.country, got, tt.want)
			}
		})
	}
}

func TestNormalizeZip(t *testing.T) {
	tests := []struct{ name, zip, country, want string }{
		{"§10 php ZIP+4", "98121-4892", "US", "98121"},
		{"§10 UK", "NR9 5AL", "GB", "nr95al"},
		{"§10 nodejs ZIP+4", "94105-1234", "US", "94105"},
		{"§10 ZIP+4 without country", "98121-4892", "", "98121"},
		{"US nine digits without dash", "627011234", "US", "62701"},
		{"US lower-case country", "627011234", "us", "62701"},
		{"nine digits elsewhere kept", "627011234", "DE", "627011234"},
		{"Canadian", " K1A 0B1 ", "CA", "k1a0b1"},
		{"spaces around dash", "98121 - 4892", "US", "98121"},
		{"pre-hashed is not cut to five", preHashedDigestUpper, "US", preHashedDigest},
		{"empty", "", "US", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeZip(tt.zip, tt.country); got != tt.want {
				t.Errorf("NormalizeZip(%q, %q) = %q, want %q", tt.zip, tt.country, got, tt.want)
			}
		})
	}
}

func TestNormalizeCountry(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"§10 php trims", "   US   ", "us"},
		{"§10 java punctuation", "US!", "us"},
		{"lower case", "de", "de"},
		{"three letters", "USA", ""},
		{"name", "United States", ""},
		{"one letter", "U", ""},
		{"pre-hashed passes through", preHashedDigestUpper, preHashedDigest},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeCountry(tt.in); got != tt.want {
				t.Errorf("NormalizeCountry(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeGender(t *testing.T) {
	tests := []struct{ in, want string }{
		{"F", "f"},    // §10 ruby
		{"Male", "m"}, // §10 param-builder
		{" female ", "f"},
		{"m", "m"},
		{"woman", "f"},
		{"boy", "m"},
		{"other", ""},
		{"", ""},
		{preHashedDigestUpper, preHashedDigest},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeGender(tt.in); got != tt.want {
				t.Errorf("NormalizeGender(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeBirthDate(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"§10 month first", "2/16/1997", "19970216"},
		{"§10 ISO", "1990-12-31", "19901231"},
		{"compact", "19901231", "19901231"},
		{"day above 12 marks the day", "16/2/1997", "19970216"},
		{"ambiguous is month first", "1/2/1997", "19970102"},
		{"zero padded", "01/02/1997", "19970102"},
		{"dotted European", "31.12.1990", "19901231"},
		{"dashed day first", "31-12-1990", "19901231"},
		{"year first with slashes", "1990/1/5", "19900105"},
		{"surrounding space", " 1990-12-31 ", "19901231"},
		{"not a date", "1990-02-30", ""},
		{"month and day both above 12", "13/13/1990", ""},
		{"two-digit year", "2/16/97", ""},
		{"two parts", "12/1990", ""},
		{"four parts", "1990-12-31-1", ""},
		{"words", "yesterday", ""},
		{"compact invalid", "19901332", ""},
		{"empty", "", ""},
		{"pre-hashed passes through", preHashedDigestUpper, preHashedDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeBirthDate(tt.in); got != tt.want {
				t.Errorf("NormalizeBirthDate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeExternalID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"EXTERNAL123", "external123"}, // §10 param-builder
		{"user id 456", "userid456"},   // §10 param-builder
		{" 7390123456789 ", "7390123456789"},
		{"cus_AbC-1", "cus_abc-1"}, // punctuation is part of an id: kept
		{"", ""},
		{preHashedDigestUpper, preHashedDigest},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeExternalID(tt.in); got != tt.want {
				t.Errorf("NormalizeExternalID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeCurrency(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"upper", "USD", "USD", false},
		{"lower", "usd", "USD", false},
		{"padded", " eur ", "EUR", false},
		{"zero-decimal", "JPY", "JPY", false},
		{"INR", "inr", "INR", false},
		{"unknown code", "XXQ", "", true},
		{"two letters", "US", "", true},
		{"four letters", "USDX", "", true},
		{"symbol", "US$", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeCurrency(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrCurrency) || got != "" {
					t.Errorf("NormalizeCurrency(%q) = %q, %v; want \"\", ErrCurrency", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("NormalizeCurrency(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestCurrencyMetaVectors checks §10's currency vectors. Our canonical form
// is upper case (ISO 4217); Meta's Python/PHP/Java/Ruby SDKs send it lower
// case, which is ours lowercased.
func TestCurrencyMetaVectors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"USD", "usd"}, {"INR", "inr"}} {
		got, err := NormalizeCurrency(tt.in)
		if err != nil || strings.ToLower(got) != tt.want {
			t.Errorf("lower(NormalizeCurrency(%q)) = %q, %v; want %q", tt.in, strings.ToLower(got), err, tt.want)
		}
	}
}

func TestHash(t *testing.T) {
	tests := []struct{ name, in, want string }{
		// Published example (Snapchat docs, platforms.md §8).
		{"published email vector", "person@example.com", "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"},
		{"published phone vector", "448444124653", "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"},
		{"email", "foo@foo.com", vectorSHA256("foo@foo.com")},
		{"utf-8 bytes", "josé", vectorSHA256("josé")},
		{"empty stays empty", "", ""},
		{"pre-hashed passes through", preHashedDigest, preHashedDigest},
		{"upper-case digest is lowercased, not rehashed", preHashedDigestUpper, preHashedDigest},
		{"63 hex chars are hashed", preHashedDigest[:63], vectorSHA256(preHashedDigest[:63])},
		{"65 hex chars are hashed", preHashedDigest + "a", vectorSHA256(preHashedDigest + "a")},
		{"64 chars not all hex are hashed", "g" + preHashedDigest[1:], vectorSHA256("g" + preHashedDigest[1:])},
		{"md5 is hashed", "5d41402abc4b2a76b9719d911017c592", vectorSHA256("5d41402abc4b2a76b9719d911017c592")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.in); got != tt.want {
				t.Errorf("Hash(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestHashNormalizedVectors hashes every §10 vector through its normalizer
// and compares with an independent SHA-256 of the literal normalized string.
func TestHashNormalizedVectors(t *testing.T) {
	tests := []struct {
		field, raw, normalized string
		norm                   func(string) string
	}{
		{"em", "  foo@foo.com  ", "foo@foo.com", NormalizeEmail},
		{"em", "     John_Smith@gmail.com    ", "john_smith@gmail.com", NormalizeEmail},
		{"em", "user.name+tag@domain.co.uk", "user.name+tag@domain.co.uk", NormalizeEmail},
		{"ph", "+442071838750", "442071838750", metaPhoneForm},
		{"ph", "+1 (415) 555-0100", "14155550100", metaPhoneForm},
		{"ph", "+001 (616) 954-78 88", "16169547888", metaPhoneForm},
		{"fn", "John", "john", NormalizeName},
		{"ln", "   Smith   ", "smith", NormalizeName},
		{"ln", "O'Connor", "oconnor", NormalizeName},
		{"fn", "José", "josé", NormalizeName},
		{"ct", "Menlo Park", "menlopark", NormalizeCity},
		{"ct", "Washington D.C", "washingtondc", NormalizeCity},
		{"ct", "Miami (Beach)", "miamibeach", NormalizeCity},
		{"st", "California", "ca", func(s string) string { return NormalizeState(s, "US") }},
		{"st", "N.Y.", "ny", func(s string) string { return NormalizeState(s, "US") }},
		{"st", "Ontario", "on", func(s string) string { return NormalizeState(s, "CA") }},
		{"zp", "98121-4892", "98121", func(s string) string { return NormalizeZip(s, "US") }},
		{"zp", "NR9 5AL", "nr95al", func(s string) string { return NormalizeZip(s, "GB") }},
		{"zp", "94105-1234", "94105", func(s string) string { return NormalizeZip(s, "US") }},
		{"country", "   US   ", "us", NormalizeCountry},
		{"country", "US!", "us", NormalizeCountry},
		{"ge", "F", "f", NormalizeGender},
		{"ge", "Male", "m", NormalizeGender},
		{"db", "2/16/1997", "19970216", NormalizeBirthDate},
		{"db", "1990-12-31", "19901231", NormalizeBirthDate},
		{"external_id", "EXTERNAL123", "external123", NormalizeExternalID},
		{"external_id", "user id 456", "userid456", NormalizeExternalID},
	}
	for _, tt := range tests {
		t.Run(tt.field+"/"+tt.raw, func(t *testing.T) {
			got := Hash(tt.norm(tt.raw))
			if want := vectorSHA256(tt.normalized); got != want {
				t.Errorf("Hash(normalize %s %q) = %q, want sha256(%q) = %q", tt.field, tt.raw, got, tt.normalized, want)
			}
		})
	}
}

// metaPhoneForm is the phone form Meta hashes: E.164 digits without "+".
func metaPhoneForm(raw string) string {
	phone, err := NormalizePhone(raw, "")
	if err != nil {
		return ""
	}
	return PhoneDigits(phone)
}

func TestIsHashed(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{preHashedDigest, true},
		{preHashedDigestUpper, true},
		{preHashedDigest[:63], false},
		{preHashedDigest + "0", false},
		{"z" + preHashedDigest[1:], false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsHashed(tt.in); got != tt.want {
			t.Errorf("IsHashed(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// e164Pattern is what NormalizePhone promises when it succeeds.
var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []struct{ raw, country string }{
		{"(217) 555-0143", "US"}, {"030 12345678", "DE"}, {"07911 123456", "GB"},
		{"+44 7911 123456", ""}, {"0044 7911 123456", ""}, {"+001 (616) 954-78 88", ""},
		{"1-800-FLOWERS", "US"}, {"+1 415 555 0100 ext. 12", ""}, {"garbage", "US"},
		{"", ""}, {"+", ""}, {"00", "DE"}, {preHashedDigest, "US"}, {"+(0)0 1 2", "uk"},
	} {
		f.Add(s.raw, s.country)
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		got, err := NormalizePhone(raw, country)
		if err != nil {
			if !errors.Is(err, ErrPhone) {
				t.Fatalf("NormalizePhone(%q, %q): error %v does not wrap ErrPhone", raw, country, err)
			}
			if got != "" {
				t.Fatalf("NormalizePhone(%q, %q) = %q with error %v", raw, country, got, err)
			}
			return
		}
		if strings.TrimSpace(raw) == "" {
			if got != "" {
				t.Fatalf("NormalizePhone(%q, %q) = %q, want \"\" for blank input", raw, country, got)
			}
			return
		}
		if !e164Pattern.MatchString(got) {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", raw, country, got)
		}
		if again, err := NormalizePhone(got, country); err != nil || again != got {
			t.Fatalf("NormalizePhone(%q, %q) = %q, %v; not stable on its own output %q", got, country, again, err, got)
		}
	})
}

func FuzzNormalizers(f *testing.F) {
	for _, s := range []string{"  Jane.Doe+shop@Example.com ", "O'Connor", "José", "Jose\u0301", "N.Y.", "NR9 5AL", "2/16/1997", preHashedDigestUpper, "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range map[string]func(string) string{
			"email":    NormalizeEmail,
			"name":     NormalizeName,
			"city":     NormalizeCity,
			"state":    func(s string) string { return NormalizeState(s, "US") },
			"zip":      func(s string) string { return NormalizeZip(s, "US") },
			"country":  NormalizeCountry,
			"external": NormalizeExternalID,
			"gender":   NormalizeGender,
			"birth":    NormalizeBirthDate,
		} {
			got := fn(s)
			if got != strings.TrimSpace(got) {
				t.Errorf("%s(%q) = %q: surrounding whitespace left", name, s, got)
			}
			if fn(got) != got {
				t.Errorf("%s(%q) = %q, but %s(%q) = %q: not idempotent", name, s, got, name, got, fn(got))
			}
			if utf8.ValidString(s) && !utf8.ValidString(got) {
				t.Errorf("%s(%q) = %q: invalid UTF-8 from valid input", name, s, got)
			}
			if h := Hash(got); got != "" && !IsHashed(h) {
				t.Errorf("Hash(%s(%q)) = %q: not a digest", name, s, h)
			}
		}
	})
}

func TestPhoneDigitsLoose(t *testing.T) {
	// Numbers the phone library refuses still reach Meta by its own rule.
	tests := []struct {
		name, raw, country, want string
	}{
		{"us trunk zero", "01(650)123-4567", "US", "16501234567"},
		{"gb letter suffix", "44-12390821300A", "GB", "4412390821300"},
		{"national gets country code", "(650) 123-4567x", "US", "16501234567"},
		{"uk alias", "07700 900123", "UK", "447700900123"},
		{"no country keeps digits", "0049 30 1234567", "", "49301234567"},
		{"national without country", "030 12345678", "", ""},
		{"too short", "12-34", "US", ""},
		{"too long", "1234567890123456789", "", ""},
		{"empty", "  ", "US", ""},
		{"hashed", strings.Repeat("a", 64), "US", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PhoneDigitsLoose(tt.raw, tt.country); got != tt.want {
				t.Errorf("PhoneDigitsLoose(%q, %q) = %q; want %q", tt.raw, tt.country, got, tt.want)
			}
		})
	}
}
