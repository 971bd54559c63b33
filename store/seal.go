package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeySize is the length of the encryption key: AES-256.
const KeySize = 32

// ErrKey is returned for a key that is not 32 bytes in base64 or hex.
var ErrKey = errors.New("key must be 32 bytes, base64 or hex encoded")

// Sealer encrypts credentials and signing secrets at rest with AES-256-GCM.
//
// A sealed value is the version byte 2, the 8-byte id of the key that
// sealed it, the 12-byte nonce, then the ciphertext and tag. The
// associated data is that header with the table, column and row id the
// value belongs to, so a ciphertext copied to another row or column does
// not open. Values sealed before (version 1: nonce and ciphertext, no
// associated data) still open, and rotate-key upgrades them.
type Sealer struct {
	aead cipher.AEAD
	id   [keyIDSize]byte
}

const (
	sealV1    = 1
	sealV2    = 2
	keyIDSize = 8
)

// Errors opening a sealed value. Both wrap ErrUnsealable.
var (
	// ErrUnsealable is a stored secret this key cannot decrypt.
	ErrUnsealable = errors.New("stored secret cannot be decrypted")
	// ErrOtherKey is a value sealed with another key (by its key id).
	ErrOtherKey = fmt.Errorf("%w: sealed with another key", ErrUnsealable)
)

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	s := &Sealer{aead: aead}
	// The key id is a hash of the key under a label of its own: it tells
	// keys apart and says nothing about the key.
	sum := sha256.Sum256(append([]byte("postback sealer key id\x00"), key...))
	copy(s.id[:], sum[:keyIDSize])
	return s, nil
}

// KeyID is the key's id as stored in sealed values, in hex.
func (s *Sealer) KeyID() string { return hex.EncodeToString(s.id[:]) }

// ParseKey decodes a key given as 64 hex characters or base64 (standard or
// URL alphabet, padded or not).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, ErrKey
}

// NewKey returns a fresh random key, base64 encoded.
func NewKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Seal encrypts plaintext for one column of one row; the empty string
// seals to nil.
func (s *Sealer) Seal(table, column string, id int64, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, 0, 1+keyIDSize+len(nonce)+len(plaintext)+s.aead.Overhead())
	out = append(out, sealV2)
	out = append(out, s.id[:]...)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, []byte(plaintext), sealAD(out[:1+keyIDSize], table, column, id)), nil
}

// sealAD is the associated data of a sealed value: its header and where it
// is stored.
func sealAD(header []byte, table, column string, id int64) []byte {
	ad := append([]byte{}, header...)
	ad = append(ad, table...)
	ad = append(ad, 0)
	ad = append(ad, column...)
	ad = append(ad, 0)
	return strconv.AppendInt(ad, id, 10)
}

// sealedKeyID is the key id a sealed value carries, "" for a legacy value.
func sealedKeyID(sealed []byte) string {
	if len(sealed) < 1+keyIDSize || sealed[0] != sealV2 {
		return ""
	}
	return hex.EncodeToString(sealed[1 : 1+keyIDSize])
}

// Open decrypts the value sealed for one column of one row; nil opens to
// "". Errors wrap ErrUnsealable and say why, never what.
func (s *Sealer) Open(table, column string, id int64, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := s.aead.NonceSize()
	switch sealed[0] {
	case sealV2:
		if len(sealed) < 1+keyIDSize+n {
			return "", fmt.Errorf("%w: truncated value", ErrUnsealable)
		}
		if !bytes.Equal(sealed[1:1+keyIDSize], s.id[:]) {
			return "", fmt.Errorf("%w %s (the configured key is %s); run postback rotate-key with POSTBACK_OLD_SECRET_KEY",
				ErrOtherKey, sealedKeyID(sealed), s.KeyID())
		}
		h := 1 + keyIDSize
		plain, err := s.aead.Open(nil, sealed[h:h+n], sealed[h+n:], sealAD(sealed[:h], table, column, id))
		if err != nil {
			return "", fmt.Errorf("%w: corrupted, or copied from another row", ErrUnsealable)
		}
		return string(plain), nil
	case sealV1:
		if len(sealed) < 1+n {
			return "", fmt.Errorf("%w: truncated value", ErrUnsealable)
		}
		plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], nil)
		if err != nil {
			return "", fmt.Errorf("%w: wrong key or corrupted data", ErrUnsealable)
		}
		return string(plain), nil
	}
	return "", fmt.Errorf("%w: unknown format", ErrUnsealable)
}
