package link

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := New([]byte("k1"), 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := s.Sign("r-1", now)
	shorter, _ := New([]byte("k1"), time.Hour)
	other, _ := New([]byte("k2"), 30*24*time.Hour)
	with := func(k, v string) url.Values {
		q := url.Values{ExpiresParam: {good.Get(ExpiresParam)}, SignatureParam: {good.Get(SignatureParam)}}
		q.Set(k, v)
		return q
	}
	tests := []struct {
		name   string
		signer Signer
		run    string
		q      url.Values
		at     time.Time
		want   error
	}{
		{"a fresh link opens", s, "r-1", good, now.Add(time.Minute), nil},
		{"a link opens until its last second", s, "r-1", good, now.Add(30*24*time.Hour - time.Second), nil},
		{"a link is gone at its expiry", s, "r-1", good, now.Add(30 * 24 * time.Hour), ErrExpired},
		{"a shortened TTL expires the links signed under the longer one", shorter, "r-1", good, now.Add(time.Minute), ErrExpired},
		{"a link does not open another run's report", s, "r-2", good, now, ErrInvalid},
		{"an extended expiry breaks the signature", s, "r-1", with(ExpiresParam, "9999999999"), now, ErrInvalid},
		{"a forged signature", s, "r-1", with(SignatureParam, "AAAA"), now, ErrInvalid},
		{"another key's link (a rotated key revokes every link)", other, "r-1", good, now, ErrInvalid},
		{"an expiry that is no number", s, "r-1", with(ExpiresParam, "soon"), now, ErrInvalid},
		{"a signature that is no base64", s, "r-1", with(SignatureParam, "%%%"), now, ErrInvalid},
		{"no parameters: not a signed link", s, "r-1", url.Values{}, now, ErrUnsigned},
		{"an expiry alone", s, "r-1", url.Values{ExpiresParam: {"1"}}, now, ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := tt.signer.Check(tt.run, tt.q, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewAndDeriveKey(t *testing.T) {
	if _, err := New(nil, time.Hour); err == nil {
		t.Error("an empty key was accepted: every link would be forgeable")
	}
	if _, err := New([]byte("k"), 0); err == nil {
		t.Error("a zero TTL was accepted")
	}
	a, b := DeriveKey("token-a"), DeriveKey("token-b")
	if string(a) == string(b) || string(a) == "token-a" || len(a) != 32 {
		t.Errorf("derived keys %x, %x: want distinct 32-byte keys that are not the secret", a, b)
	}
}
