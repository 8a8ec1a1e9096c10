package http

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Jar is one session's cookies: a small list, searched linearly, because a
// session holds a handful. It follows RFC 6265 where it matters to a load
// test (domain and host-only matching, path prefix, Secure, Max-Age and
// Expires) and not in its corners (no public-suffix list, a missing Path
// means "/"). It is not safe for concurrent use: a session owns its jar.
type Jar struct {
	cookies []cookie
	parser  fasthttp.Cookie
}

type cookie struct {
	name, value string
	domain      string // lower-case host or domain, no port
	hostOnly    bool
	path        string
	secure      bool
	expires     time.Time // zero: a session cookie
}

// Reset forgets every cookie, for the next session.
func (j *Jar) Reset() { j.cookies = j.cookies[:0] }

// Len is the number of cookies held.
func (j *Jar) Len() int { return len(j.cookies) }

// Store keeps the cookie of one Set-Cookie header received from host. An
// expired cookie deletes the one it names.
func (j *Jar) Store(host string, setCookie []byte, now time.Time) {
	p := &j.parser
	p.Reset()
	if p.ParseBytes(setCookie) != nil || len(p.Key()) == 0 {
		return
	}
	c := cookie{name: string(p.Key()), value: string(p.Value()), path: string(p.Path()), secure: p.Secure()}
	if c.path == "" || c.path[0] != '/' {
		c.path = "/"
	}
	host = strings.ToLower(host)
	if d := strings.TrimPrefix(strings.ToLower(string(p.Domain())), "."); d != "" {
		if !domainMatch(host, d) {
			return // a server may not set cookies for another domain
		}
		c.domain = d
	} else {
		c.domain, c.hostOnly = host, true
	}
	expired := false
	switch age := p.MaxAge(); {
	case age < 0:
		expired = true
	case age > 0:
		c.expires = now.Add(time.Duration(age) * time.Second)
	default:
		if e := p.Expire(); !e.Equal(fasthttp.CookieExpireUnlimited) {
			c.expires, expired = e, !e.After(now)
		}
	}
	for i := range j.cookies {
		o := &j.cookies[i]
		if o.name == c.name && o.domain == c.domain && o.path == c.path {
			if expired {
				j.cookies = append(j.cookies[:i], j.cookies[i+1:]...)
			} else {
				*o = c
			}
			return
		}
	}
	if !expired {
		j.cookies = append(j.cookies, c)
	}
}

// AppendHeader appends the Cookie header value for a request to host and
// path ("a=1; b=2"), dropping cookies that expired.
func (j *Jar) AppendHeader(dst []byte, host, path string, https bool, now time.Time) []byte {
	host = strings.ToLower(host)
	kept := j.cookies[:0]
	first := true
	for _, c := range j.cookies {
		if !c.expires.IsZero() && !c.expires.After(now) {
			continue
		}
		kept = append(kept, c)
		if c.secure && !https || !pathMatch(path, c.path) {
			continue
		}
		if c.hostOnly && host != c.domain || !c.hostOnly && !domainMatch(host, c.domain) {
			continue
		}
		if !first {
			dst = append(dst, "; "...)
		}
		first = false
		dst = append(dst, c.name...)
		dst = append(dst, '=')
		dst = append(dst, c.value...)
	}
	j.cookies = kept
	return dst
}

func domainMatch(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.'
}

func pathMatch(reqPath, cookiePath string) bool {
	if !strings.HasPrefix(reqPath, cookiePath) {
		return false
	}
	return len(reqPath) == len(cookiePath) || cookiePath[len(cookiePath)-1] == '/' || reqPath[len(cookiePath)] == '/'
}
