package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// ErrBadPassword is returned for a wrong user name or password.
var ErrBadPassword = errors.New("wrong user name or password")

// User is an admin UI account.
type User struct {
	ID        int64
	Username  string
	CreatedAt time.Time
}

type userRow struct {
	ID           int64 `gorm:"primaryKey"`
	Username     string
	PasswordHash string
	CreatedAt    int64 `gorm:"autoCreateTime:false"`
}

func (userRow) TableName() string { return "users" }

// CountUsers reports how many admin accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.rdb.WithContext(ctx).Model(&userRow{}).Count(&n).Error
	return n, err
}

// CreateUser adds an account with a bcrypt-hashed password.
func (s *Store) CreateUser(ctx context.Context, username, password string, now time.Time) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	r := userRow{Username: username, PasswordHash: string(hash), CreatedAt: ms(now)}
	var n int64
	err = s.write(ctx, func(tx *gormDB) error {
		res := tx.Exec(`INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			r.Username, r.PasswordHash, r.CreatedAt)
		if n = res.RowsAffected; res.Error != nil || n == 0 {
			return res.Error
		}
		return tx.Where("username = ?", username).First(&r).Error
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if n == 0 {
		return User{}, ErrConflict
	}
	return User{ID: r.ID, Username: r.Username, CreatedAt: fromMS(r.CreatedAt)}, nil
}

// Authenticate checks a password and returns its user.
func (s *Store) Authenticate(ctx context.Context, username, password string) (User, error) {
	var r userRow
	err := s.rdb.WithContext(ctx).Where("username = ?", username).First(&r).Error
	if err != nil {
		// Spend the same time as a real check, so timing does not tell
		// which user names exist.
		if _, herr := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost); herr != nil {
			return User{}, herr
		}
		return User{}, ErrBadPassword
	}
	if bcrypt.CompareHashAndPassword([]byte(r.PasswordHash), []byte(password)) != nil {
		return User{}, ErrBadPassword
	}
	return User{ID: r.ID, Username: r.Username, CreatedAt: fromMS(r.CreatedAt)}, nil
}

// Session is a logged-in admin.
type Session struct {
	User      User
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession starts a session and returns its secret token (for the
// cookie); only its hash is stored.
func (s *Store) CreateSession(ctx context.Context, userID int64, ttl time.Duration, now time.Time) (token string, sess Session, err error) {
	token, err = randomToken(32)
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := randomToken(32)
	if err != nil {
		return "", Session{}, err
	}
	err = s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			hashToken(token), userID, csrf, ms(now), ms(now.Add(ttl))).Error
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, Session{User: User{ID: userID}, CSRFToken: csrf, ExpiresAt: now.Add(ttl)}, nil
}

// SessionByToken returns the live session for a cookie token.
func (s *Store) SessionByToken(ctx context.Context, token string, now time.Time) (Session, error) {
	var row struct {
		UserID    int64
		CSRFToken string
		ExpiresAt int64
		Username  string
	}
	err := s.rdb.WithContext(ctx).Raw(`SELECT s.user_id, s.csrf_token, s.expires_at, u.username FROM sessions s
		JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?`, hashToken(token), ms(now)).Scan(&row).Error
	if err != nil {
		return Session{}, err
	}
	if row.UserID == 0 {
		return Session{}, ErrNotFound
	}
	return Session{User: User{ID: row.UserID, Username: row.Username}, CSRFToken: row.CSRFToken, ExpiresAt: fromMS(row.ExpiresAt)}, nil
}

// DeleteSession ends a session (logout), and sweeps expired ones.
func (s *Store) DeleteSession(ctx context.Context, token string, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`DELETE FROM sessions WHERE token_hash = ? OR expires_at < ?`, hashToken(token), ms(now)).Error
	})
}

// APIToken is a bearer token for the JSON API; its secret is shown once.
type APIToken struct {
	ID         int64
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

type apiTokenRow struct {
	ID         int64 `gorm:"primaryKey"`
	Name       string
	TokenHash  string
	Prefix     string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	LastUsedAt int64
	RevokedAt  int64
}

func (apiTokenRow) TableName() string { return "api_tokens" }

// tokenPrefix starts every token Postback issues, so a leaked one is easy
// to recognize in a secret scanner.
const tokenPrefix = "pbk_"

// CreateAPIToken issues a token and returns its secret (shown once; only a
// SHA-256 of it is stored, enough for a 256-bit random secret).
func (s *Store) CreateAPIToken(ctx context.Context, name string, now time.Time) (string, APIToken, error) {
	secret, err := randomToken(32)
	if err != nil {
		return "", APIToken{}, err
	}
	secret = tokenPrefix + secret
	r := apiTokenRow{Name: name, TokenHash: hashToken(secret), Prefix: secret[:len(tokenPrefix)+6], CreatedAt: ms(now)}
	if err := s.exec(ctx, func(db *gormDB) error { return db.Create(&r).Error }); err != nil {
		return "", APIToken{}, fmt.Errorf("create token: %w", err)
	}
	return secret, rowToToken(r), nil
}

// APITokens lists tokens, newest first.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	var rows []apiTokenRow
	if err := s.rdb.WithContext(ctx).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]APIToken, len(rows))
	for i, r := range rows {
		out[i] = rowToToken(r)
	}
	return out, nil
}

// RevokeAPIToken revokes a token.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64, now time.Time) error {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, ms(now), id)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// CheckAPIToken reports whether secret is a live token and notes its use.
func (s *Store) CheckAPIToken(ctx context.Context, secret string, now time.Time) (bool, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return false, nil
	}
	var r apiTokenRow
	err := s.rdb.WithContext(ctx).Where("token_hash = ? AND revoked_at = 0", hashToken(secret)).First(&r).Error
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	// Noting the last use is best effort; a full write per API call would
	// compete with webhooks for SQLite's one writer, so do it once a minute.
	if now.UnixMilli()-r.LastUsedAt > 60_000 {
		if err := s.exec(ctx, func(db *gormDB) error {
			return db.Exec(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(now), r.ID).Error
		}); err != nil {
			s.log.WarnContext(ctx, "note token use", "error", err.Error())
		}
	}
	return true, nil
}

func rowToToken(r apiTokenRow) APIToken {
	return APIToken{ID: r.ID, Name: r.Name, Prefix: r.Prefix, CreatedAt: fromMS(r.CreatedAt), LastUsedAt: fromMS(r.LastUsedAt), RevokedAt: fromMS(r.RevokedAt)}
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
