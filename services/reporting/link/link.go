// Package link signs and checks the open links to HTML reports. A link
// names a run and the instant it expires, and carries an HMAC-SHA256 of
// both under a server key: whoever holds a link reads that one report until
// then, and nobody can make one up, move it to another run or extend it
// without the key. Run IDs need not be secret.
package link

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Query parameters of a signed link.
const (
	ExpiresParam   = "expires" // Unix seconds
	SignatureParam = "sig"     // base64url HMAC-SHA256
)

// Sentinels of Check.
var (
	// ErrUnsigned is a link with neither parameter: not a signed link.
	ErrUnsigned = errors.New("the link is not signed")
	// ErrInvalid is a signature that does not match (or a malformed link).
	ErrInvalid = errors.New("the link's signature is not valid")
	// ErrExpired is a genuine link past its expiry, or one that expires
	// further away than the current TTL allows (the TTL was shortened).
	ErrExpired = errors.New("the link expired")
)

// Signer signs and checks links with one key and one TTL. It is immutable
// and safe for concurrent use.
type Signer struct {
	key []byte
	ttl time.Duration
}

// New returns a signer; key must not be empty, ttl must be positive.
func New(key []byte, ttl time.Duration) (Signer, error) {
	if len(key) == 0 {
		return Signer{}, errors.New("link: empty key")
	}
	if ttl <= 0 {
		return Signer{}, fmt.Errorf("link: TTL %v is not positive", ttl)
	}
	return Signer{key: append([]byte(nil), key...), ttl: ttl}, nil
}

// DeriveKey derives the link key from another server secret (the first API
// token), under its own label, so that a link's signature reveals nothing
// about that secret and every replica holding it signs alike.
func DeriveKey(secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("loadfleet report links v1"))
	return mac.Sum(nil)
}

// TTL is how long a link signed now stays valid.
func (s Signer) TTL() time.Duration { return s.ttl }

// Sign returns the query of a link to runID's report, valid from now for
// the TTL.
func (s Signer) Sign(runID string, now time.Time) url.Values {
	exp := now.Add(s.ttl).Unix()
	return url.Values{ExpiresParam: {strconv.FormatInt(exp, 10)},
		SignatureParam: {base64.RawURLEncoding.EncodeToString(s.mac(runID, exp))}}
}

// Check verifies a link's query for runID at now and returns its expiry.
// The signature is checked before the expiry, so that ErrExpired is only
// ever said of a link this server signed.
func (s Signer) Check(runID string, q url.Values, now time.Time) (time.Time, error) {
	rawExp, rawSig := q.Get(ExpiresParam), q.Get(SignatureParam)
	if rawExp == "" && rawSig == "" {
		return time.Time{}, ErrUnsigned
	}
	exp, err := strconv.ParseInt(rawExp, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s is not a Unix time", ErrInvalid, ExpiresParam)
	}
	sig, err := base64.RawURLEncoding.DecodeString(rawSig)
	if err != nil || !hmac.Equal(sig, s.mac(runID, exp)) {
		return time.Time{}, ErrInvalid
	}
	at := time.Unix(exp, 0).UTC()
	if !now.Before(at) || at.Sub(now) > s.ttl {
		return at, ErrExpired
	}
	return at, nil
}

func (s Signer) mac(runID string, exp int64) []byte {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%d", runID, exp)
	return m.Sum(nil)
}
