package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
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

// CreateUser adds an account with a bcrypt-hashed password. Any first-run
// setup token dies with it.
func (s *Store) CreateUser(ctx context.Context, username, password string, now time.Time) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.write(ctx, func(tx *gormDB) error {
		var err error
		u, err = insertUser(tx, username, string(hash), now)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// insertUser adds a user inside a transaction and deletes the setup
// tokens; ErrConflict when the name is taken.
func insertUser(tx *gormDB, username, hash string, now time.Time) (User, error) {
	r := userRow{Username: username, PasswordHash: hash, CreatedAt: ms(now)}
	res := tx.Exec(`INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Username, r.PasswordHash, r.CreatedAt)
	if res.Error != nil {
		return User{}, fmt.Errorf("create user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, ErrConflict
	}
	if err := tx.Where("username = ?", username).First(&r).Error; err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := tx.Exec(`DELETE FROM setup_tokens`).Error; err != nil {
		return User{}, fmt.Errorf("delete setup tokens: %w", err)
	}
	return User{ID: r.ID, Username: r.Username, CreatedAt: fromMS(r.CreatedAt)}, nil
}

// ErrSetupToken is returned for a first-run setup token that is not (or no
// longer) valid.
var ErrSetupToken = errors.New("invalid setup token")

// AddSetupToken stores the hash of a first-run setup token. With replace,
// older tokens are deleted first (a process that owns the database);
// otherwise each replica's token stays valid until the first user exists.
func (s *Store) AddSetupToken(ctx context.Context, token string, replace bool, now time.Time) error {
	return s.write(ctx, func(tx *gormDB) error {
		if replace {
			if err := tx.Exec(`DELETE FROM setup_tokens`).Error; err != nil {
				return err
			}
		}
		return tx.Exec(`INSERT INTO setup_tokens (token_hash, created_at) VALUES (?, ?)`, hashToken(token), ms(now)).Error
	})
}

// SetupTokenValid reports whether token is a live first-run setup token.
func (s *Store) SetupTokenValid(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	var hashes []string
	if err := s.rdb.WithContext(ctx).Raw(`SELECT token_hash FROM setup_tokens`).Scan(&hashes).Error; err != nil {
		return false, err
	}
	return hashIn(hashToken(token), hashes), nil
}

// hashIn compares want with every hash in constant time.
func hashIn(want string, hashes []string) bool {
	found := 0
	for _, h := range hashes {
		found |= subtle.ConstantTimeCompare([]byte(want), []byte(h))
	}
	return found == 1
}

// CreateFirstUser creates the first account with a setup token, which it
// consumes together with every other one: ErrSetupToken when the token is
// not live, ErrConflict when a user exists already. Two concurrent calls,
// even on different replicas, cannot both succeed: the tokens are deleted
// first, so the second waits for the first's row locks and finds none.
func (s *Store) CreateFirstUser(ctx context.Context, setupToken, username, password string, now time.Time) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.write(ctx, func(tx *gormDB) error {
		var hashes []string
		if err := tx.Raw(`DELETE FROM setup_tokens RETURNING token_hash`).Scan(&hashes).Error; err != nil {
			return fmt.Errorf("consume setup token: %w", err)
		}
		if !hashIn(hashToken(setupToken), hashes) {
			return ErrSetupToken
		}
		var n int64
		if err := tx.Model(&userRow{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		u, err = insertUser(tx, username, string(hash), now)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// dummyHash is a bcrypt hash (default cost) of a random, forgotten
// password: unknown users are checked against it, so a log-in costs the
// same bcrypt work whether the user exists or not.
const dummyHash = "$2a$10$6zNv8iXdorHEkGL9iUZbIe1iYTouAyyVX7iV8L0SAebHIG/O1bg9K"

// maxPassword is bcrypt's input limit in bytes.
const maxPassword = 72

// Authenticate checks a password and returns its user. Unknown users and
// passwords over bcrypt's 72 bytes get ErrBadPassword after the same
// bcrypt work as a real check, so neither answer nor timing tells which
// user names exist.
func (s *Store) Authenticate(ctx context.Context, username, password string) (User, error) {
	var r userRow
	err := s.rdb.WithContext(ctx).Where("username = ?", username).First(&r).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, err
	}
	hash := dummyHash
	if err == nil {
		hash = r.PasswordHash
	}
	p := []byte(password)
	tooLong := len(p) > maxPassword
	if tooLong {
		p = p[:maxPassword]
	}
	cmp := bcrypt.CompareHashAndPassword([]byte(hash), p)
	if err != nil || tooLong || cmp != nil {
		return User{}, ErrBadPassword
	}
	return User{ID: r.ID, Username: r.Username, CreatedAt: fromMS(r.CreatedAt)}, nil
}

// SetPassword replaces a user's password and ends the user's sessions,
// all but keepSession (a cookie token; empty ends every one).
func (s *Store) SetPassword(ctx context.Context, username, password, keepSession string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.write(ctx, func(tx *gormDB) error {
		var r userRow
		if err := tx.Where("username = ?", username).First(&r).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Exec(`UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), r.ID).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?`, r.ID, hashToken(keepSession)).Error
	})
}

// Session is a logged-in admin.
type Session struct {
	User      User
	CSRFToken string
	ExpiresAt time.Time
	// LastSeenAt is when the session was last used, to the minute or so.
	LastSeenAt time.Time
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
		return db.Exec(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)`,
			hashToken(token), userID, csrf, ms(now), ms(now.Add(ttl)), ms(now)).Error
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, Session{User: User{ID: userID}, CSRFToken: csrf, ExpiresAt: now.Add(ttl), LastSeenAt: now}, nil
}

// SessionByToken returns the live session for a cookie token.
func (s *Store) SessionByToken(ctx context.Context, token string, now time.Time) (Session, error) {
	var row struct {
		UserID     int64
		CSRFToken  string
		ExpiresAt  int64
		LastSeenAt int64
		Username   string
	}
	err := s.rdb.WithContext(ctx).Raw(`SELECT s.user_id, s.csrf_token, s.expires_at, s.last_seen_at, u.username FROM sessions s
		JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?`, hashToken(token), ms(now)).Scan(&row).Error
	if err != nil {
		return Session{}, err
	}
	if row.UserID == 0 {
		return Session{}, ErrNotFound
	}
	return Session{User: User{ID: row.UserID, Username: row.Username}, CSRFToken: row.CSRFToken,
		ExpiresAt: fromMS(row.ExpiresAt), LastSeenAt: fromMS(row.LastSeenAt)}, nil
}

// TouchSession notes that a session was used now.
func (s *Store) TouchSession(ctx context.Context, token string, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, ms(now), hashToken(token)).Error
	})
}

// DeleteUserSessions ends every session of a user ("log out everywhere").
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`DELETE FROM sessions WHERE user_id = ?`, userID).Error
	})
}

// DeleteExpiredSessions deletes sessions past their expiry or unused
// since idleBefore, and reports how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`, ms(now), ms(idleBefore))
		n = res.RowsAffected
		return res.Error
	})
	return n, err
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
